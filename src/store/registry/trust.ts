import { readFileSync } from 'node:fs';
import { builtin } from '../../oci/builtin.js';

/** System CA bundles, first found wins: $SSL_CERT_FILE, Debian/Ubuntu/Alpine, Fedora/RHEL. */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/**
 * The blocks of a PEM text as `TYPE:base64` with the whitespace removed: two files that wrap
 * the same certificates differently compare equal. Parses nothing (no X.509).
 */
export function pemBlocks(pem: string): string[] {
  return pemEntries(pem).map((e) => e.key);
}

/** Each block of a PEM text: its key (as pemBlocks) and its text. */
function pemEntries(pem: string): Array<{ key: string; text: string }> {
  return [...pem.matchAll(PEM_BLOCK)].map((m) => ({ key: `${m[1]}:${(m[2] ?? '').replace(/\s+/g, '')}`, text: m[0] }));
}

export interface TrustSources {
  /** Node's bundled roots (tls.rootCertificates). */
  roots: readonly string[];
  /** The system bundle's text, when one was found. */
  system?: string;
  /** The text of the file $NODE_EXTRA_CA_CERTS named when this process started, when readable. */
  nodeExtra?: string;
}

/**
 * The CA certificates a registry connection trusts: Node's bundled roots, the system bundle and
 * $NODE_EXTRA_CA_CERTS. Undefined when that set is what Node's default store holds anyway
 * (bundled roots plus $NODE_EXTRA_CA_CERTS, which Node loads at start): then a TLS context uses
 * Node's store, built once per process, instead of parsing the certificates again. Otherwise
 * (a system bundle of another Mozilla release than Node's: 22 of 144 differ on Debian 12 with
 * Node 20; a CA added to the system store) each distinct certificate once, as PEM texts for
 * `ca`: the three lists overlap mostly, and parsing costs ~0.1 ms per certificate. `always`:
 * the list in every case.
 */
export function registryTrust(src: TrustSources, always = false): string[] | undefined {
  const roots = src.roots.flatMap(pemEntries);
  const extra = src.nodeExtra === undefined ? [] : pemEntries(src.nodeExtra);
  const system = src.system === undefined ? [] : pemEntries(src.system);
  const known = new Set([...roots, ...extra].map((e) => e.key));
  if (!always && system.every((e) => known.has(e.key))) return undefined;
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of [...roots, ...system, ...extra]) {
    if (seen.has(e.key)) continue;
    seen.add(e.key);
    out.push(e.text);
  }
  return out;
}

function readOrUndefined(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

let sources: TrustSources | undefined;

/** This machine's and process's trust sources (read once). */
function machineSources(): TrustSources {
  if (sources === undefined) {
    let system: string | undefined;
    for (const f of [process.env['SSL_CERT_FILE'], ...SYSTEM_BUNDLES]) {
      system = readOrUndefined(f);
      if (system !== undefined) break;
    }
    const nodeExtra = readOrUndefined(process.env['NODE_EXTRA_CA_CERTS']);
    const roots = builtin<typeof import('node:tls')>('node:tls').rootCertificates;
    sources = { roots, ...(system === undefined ? {} : { system }), ...(nodeExtra === undefined ? {} : { nodeExtra }) };
  }
  return sources;
}

let machineTrust: { ca: string[] | undefined } | undefined;

/** registryTrust() for this machine and process (worked out once). */
export function machineRegistryTrust(): string[] | undefined {
  machineTrust ??= { ca: registryTrust(machineSources()) };
  return machineTrust.ca;
}

/** Every trusted CA as PEM texts, for a context that adds its own (--tls-ca): a `ca` list replaces Node's store. */
export function registryTrustList(): string[] {
  return registryTrust(machineSources(), true) ?? [];
}
