import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { pemBlocks, registryTrust } from '../../src/store/registry/trust.js';

const roots = rootCertificates.slice(0, 5);
/** A certificate Node's roots do not have (its body only has to differ). */
const LOCAL_CA = '-----BEGIN CERTIFICATE-----\nTUlJQmxvY2FsQ0FmYWtl\nYm9keQ==\n-----END CERTIFICATE-----\n';
/** The same PEM with its base64 wrapped at another width. */
const rewrap = (pem: string): string =>
  pem.replace(/(-----BEGIN CERTIFICATE-----\n)([\s\S]*?)(\n-----END)/, (_m, a: string, body: string, c: string) => `${a}${body.replace(/\n/g, '').replace(/(.{40})/g, '$1\n').replace(/\n$/, '')}${c}`);

describe('PEM blocks', () => {
  it('splits a bundle into type and base64, whitespace and text between blocks ignored', () => {
    const bundle = `# a comment\n${roots[0]}\n\nsome text\n${rewrap(roots[1]!)}`;
    expect(pemBlocks(bundle)).toEqual([pemBlocks(roots[0]!)[0], pemBlocks(roots[1]!)[0]]);
    expect(pemBlocks(bundle)[0]).toMatch(/^CERTIFICATE:[A-Za-z0-9+/=]+$/);
    expect(pemBlocks('no pem here')).toEqual([]);
  });
});

describe('the CAs a registry connection trusts', () => {
  it.each([
    { what: 'no system bundle: Node\'s store', system: undefined, nodeExtra: undefined, explicit: false },
    { what: 'a system bundle of the same roots (other order, other wrapping): Node\'s store', system: [roots[3], rewrap(roots[0]!), roots[1]].join('\n'), nodeExtra: undefined, explicit: false },
    { what: 'a system bundle with fewer roots: Node\'s store (the union is the roots)', system: roots[2], nodeExtra: undefined, explicit: false },
    { what: 'a CA added to the system bundle: every CA, listed', system: [...roots, LOCAL_CA].join('\n'), nodeExtra: undefined, explicit: true },
    { what: 'a system CA that NODE_EXTRA_CA_CERTS adds too: Node\'s store (Node loaded it at start)', system: [...roots, LOCAL_CA].join('\n'), nodeExtra: LOCAL_CA, explicit: false },
    { what: 'a system bundle holding a block of another type: every CA, listed', system: `${roots[0]}\n-----BEGIN TRUSTED CERTIFICATE-----\nYWJj\n-----END TRUSTED CERTIFICATE-----\n`, nodeExtra: undefined, explicit: true },
  ])('$what', ({ system, nodeExtra, explicit }) => {
    const ca = registryTrust({ roots, ...(system === undefined ? {} : { system }), ...(nodeExtra === undefined ? {} : { nodeExtra }) });
    // with `always` (a context adding --tls-ca): the whole list in every case
    const all = registryTrust({ roots, ...(system === undefined ? {} : { system }), ...(nodeExtra === undefined ? {} : { nodeExtra }) }, true);
    expect(new Set((all ?? []).flatMap(pemBlocks))).toEqual(new Set([...roots.flatMap(pemBlocks), ...pemBlocks(system ?? ''), ...pemBlocks(nodeExtra ?? '')]));
    if (!explicit) {
      expect(ca).toBeUndefined();
      return;
    }
    // the union: Node's roots, the system bundle and NODE_EXTRA_CA_CERTS, each certificate once
    const keys = (ca ?? []).flatMap(pemBlocks);
    const union = new Set([...roots.flatMap(pemBlocks), ...pemBlocks(system ?? ''), ...pemBlocks(nodeExtra ?? '')]);
    expect(new Set(keys)).toEqual(union);
    expect(keys).toHaveLength(union.size);
  });
});
