import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { BLOCK, type TarHeader, decodeHeaderBlock, decodePax, encodeHeader } from '../../src/snapshot/tar-format.js';
import { readTar } from '../../src/snapshot/tar-reader.js';

const base: TarHeader = { name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() };

describe('tar header encoding', () => {
  it.each([
    ['plain ustar', {}, []],
    ['name split into ustar prefix', { name: `${'p'.repeat(120)}/name` }, []],
    ['long name', { name: `${'x'.repeat(80)}/${'y'.repeat(120)}` }, ['path']],
    ['non-ASCII name', { name: 'dir/héllo-✓' }, ['path']],
    ['long link name', { type: 'symlink', linkname: 'l'.repeat(150) }, ['linkpath']],
    ['file over 8 GiB', { size: 10 * 2 ** 30 }, ['size']],
    ['uid and gid beyond 7 octal digits', { uid: 3_000_000, gid: 4_000_000 }, ['gid', 'uid']],
    ['mtime before 1970', { mtime: -86_400 }, ['mtime']],
    ['binary xattr', { xattrs: new Map([['security.capability', Buffer.from([1, 0, 0, 2, 0xff, 0x80, 0])]]) }, ['SCHILY.xattr.security.capability']],
  ] as [string, Partial<TarHeader>, string[]][])('%s round-trips (PAX keys %j)', async (_n, over, paxKeys) => {
    const h = { ...base, ...over };
    const enc = encodeHeader(h);
    expect(enc.length % BLOCK).toBe(0);
    if (paxKeys.length === 0) {
      expect(enc.length).toBe(BLOCK);
    } else {
      const paxHead = decodeHeaderBlock(enc.subarray(0, BLOCK));
      expect(paxHead.typeflag).toBe('x');
      const pax = decodePax(enc.subarray(BLOCK, BLOCK + paxHead.size));
      expect([...pax.keys()]).toEqual(paxKeys);
    }
    // read back with slipway's reader (no body for the 10 GiB case: only the header is checked)
    const archive = h.size > 0 ? enc : Buffer.concat([enc, Buffer.alloc(1024)]);
    const it = readTar(Readable.from([archive]))[Symbol.asyncIterator]();
    const first = await it.next();
    const e = first.value as TarHeader;
    expect({ name: e.name, type: e.type, size: e.size, uid: e.uid, gid: e.gid, mtime: e.mtime, linkname: e.linkname, xattrs: [...e.xattrs] })
      .toEqual({ name: h.name, type: h.type, size: h.size, uid: h.uid, gid: h.gid, mtime: h.mtime, linkname: h.linkname, xattrs: [...h.xattrs] });
  });

  it('writes what an independent reader (tar-stream) understands, with no user or group names', async () => {
    const entries: TarHeader[] = [
      { ...base, name: 'dir', type: 'dir', mode: 0o755 },
      { ...base, name: `dir/${'n'.repeat(150)}`, size: 3, mode: 0o4755, uid: 1000, gid: 1000 },
      { ...base, name: 'dir/link', type: 'symlink', linkname: 'n'.repeat(150) },
    ];
    const parts: Buffer[] = [];
    for (const e of entries) {
      parts.push(encodeHeader(e));
      if (e.size) parts.push(Buffer.from('abc'), Buffer.alloc(BLOCK - 3));
    }
    parts.push(Buffer.alloc(1024));
    const ex = tar.extract();
    const seen: string[] = [];
    const done = (async () => {
      for await (const entry of ex) {
        const h = entry.header;
        seen.push(`${h.name} ${h.type} ${(h.mode ?? 0).toString(8)} ${h.uid}:${h.gid} [${h.uname ?? ''}:${h.gname ?? ''}] ${h.linkname ?? ''}`);
        entry.resume();
      }
    })();
    Readable.from([Buffer.concat(parts)]).pipe(ex);
    await done;
    expect(seen).toEqual([
      'dir/ directory 755 0:0 [:] ',
      `dir/${'n'.repeat(150)} file 4755 1000:1000 [:] `,
      `dir/link symlink 644 0:0 [:] ${'n'.repeat(150)}`,
    ]);
  });
});
