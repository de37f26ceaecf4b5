import { RefNotFoundError, isDigest, type LayoutStore } from '../../index.js';
import { findLocal } from './registry-flags.js';

/** Decimal units, 3 significant digits, as docker prints sizes: 1.98MB. */
export function formatSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))}${units[i]}`;
}

/** "3 hours ago", as docker prints CREATED. */
export function formatAge(iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return 'N/A';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return 'N/A';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const steps: Array<[number, string]> = [[60, 'second'], [60, 'minute'], [24, 'hour'], [7, 'day'], [4.35, 'week'], [12, 'month']];
  let v = s;
  for (const [size, unit] of steps) {
    if (v < size) return `${Math.floor(v)} ${unit}${Math.floor(v) === 1 ? '' : 's'} ago`;
    v /= size;
  }
  return `${Math.floor(v)} year${Math.floor(v) === 1 ? '' : 's'} ago`;
}

/**
 * The local-store names `arg` selects: a name (as given or normalized, e.g.
 * busybox -> docker.io/library/busybox:latest), or a digest / digest prefix of
 * at least 12 hex characters (every name pointing at it). Throws RefNotFoundError.
 */
export async function selectLocalNames(store: LayoutStore, arg: string): Promise<string[]> {
  const name = await findLocal(store, arg);
  if (name !== undefined) return [name];
  const hex = arg.startsWith('sha256:') ? arg.slice(7) : arg;
  if (isDigest(arg) || /^[a-f0-9]{12,64}$/.test(hex)) {
    const names = (await store.list()).filter((e) => e.ref !== undefined && e.descriptor.digest.startsWith(`sha256:${hex}`)).map((e) => e.ref as string);
    if (names.length > 0) return names;
  }
  throw new RefNotFoundError(arg, 'local store');
}
