import { SlipwayError } from './errors.js';
import type { Descriptor, Platform } from './types.js';

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

export class InvalidPlatformError extends SlipwayError {
  constructor(value: string) {
    super('INVALID_PLATFORM', `invalid platform "${value}"`, { hint: 'use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8', exitCode: 2 });
  }
}

export class NoMatchingPlatformError extends SlipwayError {
  constructor(wanted: Platform, available: Platform[], where: string) {
    const list = available.map(formatPlatform).join(', ') || 'none';
    super('NO_MATCHING_PLATFORM', `${where} has no image for ${formatPlatform(wanted)} (available: ${list})`, {
      hint: 'pass --platform with one of the available platforms',
    });
  }
}

/** The host's platform as OCI names it. */
export function hostPlatform(): Platform {
  const architecture = ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') p.variant = `v${(process.config.variables as Record<string, unknown>)['arm_version'] ?? '7'}`;
  return p;
}

/** Parses os/arch[/variant]; architecture aliases (x86_64, aarch64) normalized. */
export function parsePlatform(value: string): Platform {
  const parts = value.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '' || !/^[a-z0-9._-]+$/.test(p))) {
    throw new InvalidPlatformError(value);
  }
  return normalizePlatform({ os: parts[0] as string, architecture: parts[1] as string, ...(parts[2] ? { variant: parts[2] } : {}) });
}

export function normalizePlatform(p: Platform): Platform {
  let arch = p.architecture;
  let variant = p.variant;
  if (arch === 'x86_64' || arch === 'x86-64') arch = 'amd64';
  if (arch === 'aarch64') arch = 'arm64';
  if (arch === 'armhf') { arch = 'arm'; variant = variant ?? 'v7'; }
  if (arch === 'armel') { arch = 'arm'; variant = variant ?? 'v6'; }
  if (arch === 'arm64' && variant === undefined) variant = 'v8';
  if (arch === 'arm' && variant === undefined) variant = 'v7';
  const out: Platform = { os: p.os, architecture: arch };
  if (variant !== undefined) out.variant = variant;
  if (p['os.version'] !== undefined) out['os.version'] = p['os.version'];
  return out;
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** True when `candidate` satisfies `wanted` (variant is only compared when both name one). */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return false;
  if (w.variant !== undefined && c.variant !== undefined && w.variant !== c.variant) return false;
  return true;
}

/** Picks the index entry for `wanted`; exact variant match wins over a looser one. */
export function selectManifest(manifests: readonly Descriptor[], wanted: Platform, where: string): Descriptor {
  const withPlatform = manifests.filter((m) => m.platform !== undefined);
  const w = normalizePlatform(wanted);
  const exact = withPlatform.find((m) => {
    const c = normalizePlatform(m.platform as Platform);
    return c.os === w.os && c.architecture === w.architecture && c.variant === w.variant;
  });
  if (exact) return exact;
  const loose = withPlatform.find((m) => platformMatches(wanted, m.platform as Platform));
  if (loose) return loose;
  throw new NoMatchingPlatformError(wanted, withPlatform.map((m) => m.platform as Platform), where);
}
