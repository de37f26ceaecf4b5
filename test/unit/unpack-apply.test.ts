import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { UnsupportedCompressionError, applyLayer } from '../../src/snapshot/index.js';
import { type FixtureEntry, tarFixture } from '../helpers/tar-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-apply-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
function fresh(): string {
  const d = join(work, `r${n++}`);
  execFileSync('mkdir', ['-p', d]);
  return d;
}

async function apply(root: string, entries: FixtureEntry[], opts: { gzip?: boolean; mode?: 'flatten' | 'overlay'; lowerDirs?: string[] } = {}) {
  return applyLayer(Readable.from([tarFixture(entries, { gzip: opts.gzip })]), root, { layer: 'sha256:test', mode: opts.mode ?? 'flatten', lowerDirs: opts.lowerDirs ?? [] });
}

/** Normalized listing: path type mode uid:gid [target|content]. */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`${r}/ ${mode} ${st.uid}:${st.gid}`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(join(root, r))}`);
      else if (st.isCharacterDevice()) out.push(`${r} c${st.rdev}`);
      else out.push(`${r} ${mode} ${st.uid}:${st.gid} ${readFileSync(join(root, r), 'utf8')}`);
    }
  };
  walk('');
  return out;
}

describe('applyLayer: changeset rules', () => {
  it('extracts files, dirs, symlinks, hard links with owners and special mode bits', async () => {
    const r = fresh();
    await apply(r, [
      { name: 'bin/', mode: 0o755 },
      { name: 'bin/su', content: 'x', mode: 0o4755, uid: 0 },
      { name: 'bin/wall', content: 'w', mode: 0o2755, gid: 5 },
      { name: 'tmp/', mode: 0o1777 },
      { name: 'home/u/', mode: 0o700, uid: 1000, gid: 1000 },
      { name: 'home/u/f', content: 'hi', uid: 1000, gid: 1000 },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' },
      { name: 'bin/su2', type: 'hardlink', linkname: 'bin/su' },
    ], { gzip: true });
    expect(tree(r)).toEqual([
      'bin/ 755 0:0', 'bin/sh -> /bin/busybox', 'bin/su 4755 0:0 x', 'bin/su2 4755 0:0 x', 'bin/wall 2755 0:5 w',
      'home/ 755 0:0', 'home/u/ 700 1000:1000', 'home/u/f 644 1000:1000 hi', 'tmp/ 1777 0:0',
    ]);
    expect(lstatSync(join(r, 'bin/su')).ino).toBe(lstatSync(join(r, 'bin/su2')).ino);
  });

  it('accepts ./-prefixed names (docker save style) and applies the root entry to the root', async () => {
    const r = fresh();
    await apply(r, [{ name: './', mode: 0o750, mtime: 1234 }, { name: './etc/' }, { name: './etc/x', content: 'x' }, { name: './etc/y', type: 'hardlink', linkname: './etc/x' }]);
    expect(tree(r)).toEqual(['etc/ 755 0:0', 'etc/x 644 0:0 x', 'etc/y 644 0:0 x']);
    expect(lstatSync(r).mode & 0o7777).toBe(0o750);
    expect(lstatSync(r).mtimeMs).toBe(1234_000);
  });

  it('sets directory mtimes after their children are written', async () => {
    const r = fresh();
    await apply(r, [
      { name: 'd/', mtime: 1000 },
      { name: 'd/e/', mtime: 2000 },
      { name: 'd/e/f', content: 'a', mtime: 3000 },
    ]);
    expect(lstatSync(join(r, 'd')).mtimeMs).toBe(1000_000);
    expect(lstatSync(join(r, 'd/e')).mtimeMs).toBe(2000_000);
    expect(lstatSync(join(r, 'd/e/f')).mtimeMs).toBe(3000_000);
  });

  it.each([
    ['whiteout removes a lower file', [{ name: 'a/.wh.f1' }], ['a/ 755 0:0', 'a/d/ 755 0:0', 'a/d/g 644 0:0 g', 'a/f2 644 0:0 2']],
    ['whiteout removes a lower dir recursively', [{ name: 'a/.wh.d' }], ['a/ 755 0:0', 'a/f1 644 0:0 1', 'a/f2 644 0:0 2']],
    ['opaque dir hides lower children but keeps this layer\'s, whatever the order', [
      { name: 'a/' }, { name: 'a/new', content: 'n' }, { name: 'a/.wh..wh..opq' }, { name: 'a/d/' }, { name: 'a/d/h', content: 'h' },
    ], ['a/ 755 0:0', 'a/d/ 755 0:0', 'a/d/h 644 0:0 h', 'a/new 644 0:0 n']],
    ['whiteout does not hide a file of the same layer', [{ name: 'a/f1', content: 'new' }, { name: 'a/.wh.f1' }],
      ['a/ 755 0:0', 'a/d/ 755 0:0', 'a/d/g 644 0:0 g', 'a/f1 644 0:0 new', 'a/f2 644 0:0 2']],
    ['a file replaces a directory', [{ name: 'a/d', content: 'file now' }], ['a/ 755 0:0', 'a/d 644 0:0 file now', 'a/f1 644 0:0 1', 'a/f2 644 0:0 2']],
    ['a directory replaces a file', [{ name: 'a/f1/' }, { name: 'a/f1/x', content: 'x' }],
      ['a/ 755 0:0', 'a/d/ 755 0:0', 'a/d/g 644 0:0 g', 'a/f1/ 755 0:0', 'a/f1/x 644 0:0 x', 'a/f2 644 0:0 2']],
    ['a directory over a directory keeps children and takes new attributes', [{ name: 'a/d/', mode: 0o700, uid: 7 }],
      ['a/ 755 0:0', 'a/d/ 700 7:0', 'a/d/g 644 0:0 g', 'a/f1 644 0:0 1', 'a/f2 644 0:0 2']],
    ['a hard link to a file of an earlier layer', [{ name: 'a/l', type: 'hardlink', linkname: 'a/f1' }],
      ['a/ 755 0:0', 'a/d/ 755 0:0', 'a/d/g 644 0:0 g', 'a/f1 644 0:0 1', 'a/f2 644 0:0 2', 'a/l 644 0:0 1']],
  ] as [string, FixtureEntry[], string[]][])('%s', async (_name, layer2, expected) => {
    const r = fresh();
    await apply(r, [{ name: 'a/' }, { name: 'a/f1', content: '1' }, { name: 'a/f2', content: '2' }, { name: 'a/d/' }, { name: 'a/d/g', content: 'g' }]);
    await apply(r, layer2);
    expect(tree(r)).toEqual(expected);
  });

  it('overlay mode writes 0/0 character devices and an opaque xattr instead of deleting', async () => {
    const r = fresh();
    await apply(r, [{ name: 'a/' }, { name: 'a/.wh.gone' }, { name: 'b/' }, { name: 'b/.wh..wh..opq' }, { name: 'b/keep', content: 'k' }], { mode: 'overlay' });
    expect(tree(r)).toEqual(['a/ 755 0:0', 'a/gone c0', 'b/ 755 0:0', 'b/keep 644 0:0 k']);
    const x = execFileSync('getfattr', ['-d', '-m', '-', join(r, 'b')], { encoding: 'utf8' });
    expect(x).toMatch(/overlay\.opaque="y"/);
  });

  it('overlay mode copies a hard link target from a lower layer dir', async () => {
    const low = fresh();
    await apply(low, [{ name: 'x/' }, { name: 'x/orig', content: 'data', mode: 0o600 }], { mode: 'overlay' });
    const up = fresh();
    await apply(up, [{ name: 'x/' }, { name: 'x/link', type: 'hardlink', linkname: 'x/orig' }], { mode: 'overlay', lowerDirs: [low] });
    expect(tree(up)).toEqual(['x/ 755 0:0', 'x/link 600 0:0 data']);
  });

  it('overlay mode gives parents the tar does not list the attributes of the same dir below', async () => {
    const low = fresh();
    await apply(low, [{ name: 'home/' }, { name: 'home/user/', mode: 0o700, uid: 1000, gid: 1000 }], { mode: 'overlay' });
    const up = fresh();
    // only the new dir is listed: home/ and home/user/ are implicit, and must not turn root-owned 0755
    await apply(up, [{ name: 'home/user/work/', uid: 1000, gid: 1000 }, { name: 'new/deep/f', content: 'x' }], { mode: 'overlay', lowerDirs: [low] });
    expect(tree(up)).toEqual(['home/ 755 0:0', 'home/user/ 700 1000:1000', 'home/user/work/ 755 1000:1000', 'new/ 755 0:0', 'new/deep/ 755 0:0', 'new/deep/f 644 0:0 x']);
  });

  // overlay mode into an empty dir skips the existence check for paths the layer has not made yet
  it.each([
    ['a file listed twice keeps the last', [{ name: 'f', content: '1' }, { name: 'f', content: '2' }], ['f 644 0:0 2']],
    ['a file replaced by a dir', [{ name: 'x', content: '1' }, { name: 'x/' }, { name: 'x/y', content: 'y' }], ['x/ 755 0:0', 'x/y 644 0:0 y']],
    ['a dir replaced by a symlink', [{ name: 'd/' }, { name: 'd/f', content: 'f' }, { name: 'd', type: 'symlink' as const, linkname: 'e' }], ['d -> e']],
    ['an implicit parent then listed as a dir', [{ name: 'p/q/f', content: 'f' }, { name: 'p/', mode: 0o700 }], ['p/ 700 0:0', 'p/q/ 755 0:0', 'p/q/f 644 0:0 f']],
    ['a file through a symlinked parent, then the same file by its real path', [{ name: 'real/' }, { name: 'ln', type: 'symlink' as const, linkname: 'real' }, { name: 'ln/f', content: '1' }, { name: 'real/f', content: '2' }], ['ln -> real', 'real/ 755 0:0', 'real/f 644 0:0 2']],
    ['a hard link over an existing file of the layer', [{ name: 'a', content: 'a' }, { name: 'b', content: 'b' }, { name: 'b', type: 'hardlink' as const, linkname: 'a' }], ['a 644 0:0 a', 'b 644 0:0 a']],
  ] as [string, FixtureEntry[], string[]][])('overlay mode, empty dir: %s', async (_name, entries, want) => {
    const r = fresh();
    await apply(r, entries, { mode: 'overlay' });
    expect(tree(r)).toEqual(want);
  });

  it('reads PAX long names, binary xattrs and GNU base-256 numbers', async () => {
    const r = fresh();
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    const cap = Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await apply(r, [
      { name: 'x', content: 'long', pax: { path: long } },
      { name: 'ping', content: 'p', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': cap } },
      { name: 'big-uid', content: 'u', uid: 3_000_000 },
    ]);
    expect(readFileSync(join(r, long), 'utf8')).toBe('long');
    const x = execFileSync('getfattr', ['-e', 'hex', '-n', 'security.capability', join(r, 'ping')], { encoding: 'utf8' });
    expect(x).toContain(cap.toString('hex'));
    expect(lstatSync(join(r, 'big-uid')).uid).toBe(3_000_000);
  });

  it('reads zstd layers by magic bytes', async () => {
    const r = fresh();
    const zst = execFileSync('zstd', ['-c', '-q'], { input: tarFixture([{ name: 'z', content: 'zstd!' }]) });
    const res = await applyLayer(Readable.from([zst]), r, { layer: 'sha256:z', mode: 'flatten' });
    expect(res.format).toBe('zstd');
    expect(readFileSync(join(r, 'z'), 'utf8')).toBe('zstd!');
  });

  it.each([['xz', ['xz', '-c']], ['bzip2', ['bzip2', '-c']]])('refuses %s layers (not OCI media types) naming the layer', async (_n, cmd) => {
    const data = execFileSync(cmd[0] as string, cmd.slice(1) as string[], { input: tarFixture([{ name: 'a', content: 'a' }]) });
    const err = await applyLayer(Readable.from([data]), fresh(), { layer: 'sha256:xz', mode: 'flatten' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedCompressionError);
    expect((err as Error).message).toMatch(/layer sha256:xz: .* not part of the OCI image spec/);
  });

  it('reads multi-member gzip (as parallel compressors write it)', async () => {
    const r = fresh();
    const tar = tarFixture([{ name: 'a', content: 'A'.repeat(3000) }, { name: 'b', content: 'B' }]);
    const { gzipSync } = await import('node:zlib');
    const multi = Buffer.concat([gzipSync(tar.subarray(0, 1000)), gzipSync(tar.subarray(1000, 2500)), gzipSync(tar.subarray(2500))]);
    await applyLayer(Readable.from([multi]), r, { layer: 'sha256:m', mode: 'flatten' });
    expect(readFileSync(join(r, 'a'), 'utf8')).toBe('A'.repeat(3000));
    expect(existsSync(join(r, 'b'))).toBe(true);
  });
});
