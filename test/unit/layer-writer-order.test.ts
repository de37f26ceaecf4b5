import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, appendFileSync, utimesSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTarNames, sortKey, type LayerEntry } from '../../src/snapshot/changes.js';
import { diffOverlay, overlayChanges } from '../../src/snapshot/diff-overlay.js';
import { treeChanges } from '../../src/snapshot/diff-trees.js';
import { SnapshotError } from '../../src/snapshot/errors.js';
import { writeLayer, writeLayerInOrder } from '../../src/snapshot/layer-writer.js';
import { isRoot, requireTools } from '../setup/tools.js';

const tools = requireTools('getfattr', 'setfattr');

const work = mkdtempSync(join(tmpdir(), 'slipway-order-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const out = join(work, 'out');
const empty = join(work, 'empty');

/** Names of a tar, read with tar-stream (an independent reader), with their bodies. */
async function members(buf: Buffer): Promise<{ name: string; body: Buffer }[]> {
  const ex = tar.extract();
  const list: { name: string; body: Buffer }[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      list.push({ name: entry.header.name, body: Buffer.concat(chunks) });
    }
  })();
  Readable.from([buf]).pipe(ex);
  await done;
  return list;
}

/** A deterministic shuffle (the writer must not depend on input order). */
function shuffled<T>(xs: readonly T[]): T[] {
  const a = [...xs];
  let seed = 12345;
  for (let i = a.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** An overlay-style upper dir: tricky sibling names, whiteouts, an opaque dir, hard links, many small files. */
const upper = join(work, 'upper');
beforeAll(() => {
  mkdirSync(out);
  if (!tools.ok) return;
  mkdirSync(empty);
  for (const d of ['a', 'a-b', 'a.b', 'a b', 'dir/sub', 'opq/inner', 'ü', 'many']) mkdirSync(join(upper, d), { recursive: true });
  for (const [f, body] of [['a/x', '1'], ['a-b/y', '2'], ['a.b/z', '3'], ['a b/w', '4'], ['dir/sub/f', 'hi'], ['opq/inner/f', 'in'], ['ü/é', 'u'], ['empty', '']] as const) {
    writeFileSync(join(upper, f), body);
  }
  writeFileSync(join(upper, 'big.bin'), Buffer.alloc(200_000, 9));
  linkSync(join(upper, 'big.bin'), join(upper, 'dir/hard'));
  symlinkSync('a/x', join(upper, 'sym'));
  for (let i = 0; i < 300; i++) writeFileSync(join(upper, 'many', `f${i}`), `file ${i} `.repeat(1 + (i % 50)));
  if (isRoot) {
    execFileSync('mknod', [join(upper, 'dir/gone'), 'c', '0', '0']);
    execFileSync('mknod', [join(upper, 'a/removed'), 'c', '0', '0']);
  } else {
    writeFileSync(join(upper, 'dir/.wh.gone'), ''); // fuse-overlayfs style
  }
  execFileSync('setfattr', ['-n', isRoot ? 'trusted.overlay.opaque' : 'user.overlay.opaque', '-v', 'y', join(upper, 'opq')]);
});

describe('layer order', () => {
  const names = [
    'a', 'a/x', 'a/.wh.x', 'a/.wh..wh..opq', 'a-b', 'a-b/c', 'a.b', 'a b', 'a/b/c', 'a/b', 'ab', 'A', '.wh.a', '.wh..wh..opq',
    'b/.wh.', 'b/.wh.a/x', 'é', 'e\u0301', 'z/ü/1', 'z/u/1', 'x//y', 'x/', 'x', '😀', '\uffff', 'a/.wh..wh..opqq',
  ];
  it('compareTarNames agrees with the order of sortKey() on every pair of tricky names', () => {
    const wrong: string[] = [];
    for (const a of names) {
      for (const b of names) {
        const ka = sortKey(a);
        const kb = sortKey(b);
        if (Math.sign(compareTarNames(a, b)) !== (ka < kb ? -1 : ka > kb ? 1 : 0)) wrong.push(`${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe.runIf(tools.ok)('writeLayerInOrder (streamed entries)', () => {
  it('writes the same bytes as writeLayer given the same entries in any order, for gzip and plain tars', async () => {
    const entries = await overlayChanges(upper);
    for (const compression of ['gzip', 'none'] as const) {
      const opts = { compression, tmpDir: out, blockSize: 4096 };
      const streamed = (await writeLayerInOrder([entries.slice(0, 7), entries.slice(7)], opts))!;
      const sorted = (await writeLayer(shuffled(entries), opts))!;
      expect(streamed.descriptor).toEqual(sorted.descriptor);
      expect(streamed.diffId).toBe(sorted.diffId);
      expect(readFileSync(streamed.path).equals(readFileSync(sorted.path))).toBe(true);
      rmSync(streamed.path);
      rmSync(sorted.path);
    }
  });

  it.each([
    ['out of order', ['b', 'a'], /not in layer order/],
    ['given twice', ['a', 'a'], /twice/],
  ])('refuses entries %s and leaves no temp file', async (_what, paths, error) => {
    const dir = join(work, `refuse-${paths.join('')}`);
    mkdirSync(dir);
    const batch: LayerEntry[] = paths.map((p) => ({ path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1, size: 1, source: { data: Buffer.from('x') } }));
    await expect(writeLayerInOrder([batch], { tmpDir: dir })).rejects.toThrow(error);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('returns undefined and writes no file when every entry is excluded', async () => {
    const dir = join(work, 'excluded');
    mkdirSync(dir);
    const batch: LayerEntry[] = [{ path: 'etc/hosts', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1, size: 1, source: { data: Buffer.from('x') } }];
    expect(await writeLayerInOrder([batch], { tmpDir: dir, exclude: ['/etc'] })).toBeUndefined();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe.runIf(tools.ok)('diffOverlay (sorted walk, streamed into the writer)', () => {
  it('gives the layer the collected change set gives, entries in layer order, whiteouts, opaque marker and hard links included', async () => {
    const streamed = (await diffOverlay(upper, { compression: 'gzip', tmpDir: out }))!;
    const collected = (await writeLayer(shuffled(await overlayChanges(upper)), { compression: 'gzip', tmpDir: out }))!;
    expect(streamed.descriptor.digest).toBe(collected.descriptor.digest);
    expect(streamed.entries).toBe(collected.entries);
    const list = await members(execFileSync('gzip', ['-dc', streamed.path], { maxBuffer: 1 << 26 }));
    const names = list.map((m) => m.name.replace(/\/$/, ''));
    expect(names).toEqual([...names].sort((a, b) => compareTarNames(a, b)));
    expect(names).toEqual(expect.arrayContaining(['dir/.wh.gone', 'opq/.wh..wh..opq', 'dir/hard', 'many/f299']));
    expect(names.indexOf('opq/.wh..wh..opq')).toBe(names.indexOf('opq') + 1);
    expect(names.indexOf('a/x')).toBeLessThan(names.indexOf('a b'));
    expect(list.find((m) => m.name === 'many/f7')?.body.toString()).toBe('file 7 '.repeat(8));
    rmSync(streamed.path);
    rmSync(collected.path);
  });

  it('gives the same layer when the upper has no xattrs at all (entries go out before getfattr answers)', async () => {
    const plain = join(work, 'upper-plain');
    execFileSync('cp', ['-a', upper, plain]);
    execFileSync('setfattr', ['-x', isRoot ? 'trusted.overlay.opaque' : 'user.overlay.opaque', join(plain, 'opq')]);
    const streamed = (await diffOverlay(plain, { compression: 'gzip', tmpDir: out }))!;
    const collected = (await writeLayer(shuffled(await overlayChanges(plain)), { compression: 'gzip', tmpDir: out }))!;
    expect(streamed.descriptor.digest).toBe(collected.descriptor.digest);
    expect(execFileSync('tar', ['-tzf', streamed.path], { encoding: 'utf8' })).not.toContain('.wh..wh..opq');
    rmSync(streamed.path);
    rmSync(collected.path);
  });

  it('refuses an upper with a redirect xattr (SnapshotError) and leaves no temp file', async () => {
    const bad = join(work, 'upper-redirect');
    mkdirSync(join(bad, 'moved'), { recursive: true });
    writeFileSync(join(bad, 'a-file'), 'x');
    execFileSync('setfattr', ['-n', isRoot ? 'trusted.overlay.redirect' : 'user.overlay.redirect', '-v', '/old', join(bad, 'moved')]);
    const dir = join(work, 'redirect-out');
    mkdirSync(dir);
    await expect(diffOverlay(bad, { tmpDir: dir })).rejects.toThrow(SnapshotError);
    await expect(diffOverlay(bad, { tmpDir: dir })).rejects.toThrow(/redirect_dir/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('gives the same tar whatever the block size (block edges inside headers, file bodies and padding)', async () => {
    const ids = new Set<string>();
    for (const blockSize of [512, 1000, 4096 + 7, 1 << 20]) {
      const r = (await diffOverlay(upper, { compression: 'gzip', tmpDir: out, blockSize }))!;
      ids.add(r.diffId);
      rmSync(r.path);
    }
    expect(ids.size).toBe(1);
  });

  it('gives the same gzip bytes however many members are compressed at once (digests do not depend on the machine)', async () => {
    const digests = new Set<string>();
    for (const concurrency of [1, 2, 5]) {
      const r = (await diffOverlay(upper, { compression: 'gzip', tmpDir: out, blockSize: 8192, concurrency }))!;
      digests.add(r.descriptor.digest);
      rmSync(r.path);
    }
    expect(digests.size).toBe(1);
  });
});

describe('file content sources', () => {
  it('a host file read by path (synchronous reads) gives the same bytes as the same content streamed or given as a buffer', async () => {
    const src = join(work, 'content.bin');
    const body = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 251));
    writeFileSync(src, body);
    const entry = (source: LayerEntry['source']): LayerEntry[] => [{ path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5, size: body.length, source }];
    const results = [
      await writeLayer(entry({ path: src }), { tmpDir: out, blockSize: 8192 }),
      await writeLayer(entry({ open: () => createReadStream(src, { highWaterMark: 3000 }) }), { tmpDir: out, blockSize: 8192 }),
      await writeLayer(entry({ data: body }), { tmpDir: out, blockSize: 8192 }),
    ];
    expect(new Set(results.map((r) => r!.descriptor.digest)).size).toBe(1);
    for (const r of results) rmSync(r!.path);
  });

  it('a file that shrank after it was scanned is a clear SnapshotError naming it, and no temp file is left', async () => {
    const tree = join(work, 'shrink');
    mkdirSync(tree);
    writeFileSync(join(tree, 'log'), 'x'.repeat(10_000));
    const changes = await treeChanges(empty, tree, { xattrs: false });
    truncateSync(join(tree, 'log'), 100);
    const dir = join(work, 'shrink-out');
    mkdirSync(dir);
    const err = await writeLayer(changes, { tmpDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as SnapshotError).message).toMatch(/shrank while it was being read.*100 of 10000 bytes/);
    expect((err as SnapshotError).message).toContain(join(tree, 'log'));
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each([
    ['removed', (f: string) => rmSync(f)],
    ['replaced by a symlink', (f: string) => { rmSync(f); symlinkSync('/etc/passwd', f); }],
  ])('a file %s after it was scanned is a clear SnapshotError naming it (no symlink followed)', async (_what, change) => {
    const tree = join(work, `vanish-${_what.length}`);
    mkdirSync(tree);
    writeFileSync(join(tree, 'data'), 'content');
    const changes = await treeChanges(empty, tree, { xattrs: false });
    change(join(tree, 'data'));
    const err = await writeLayer(changes, { tmpDir: out }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as SnapshotError).message).toContain(`${join(tree, 'data')} was removed or replaced`);
  });

  it('a file that grew after it was scanned gives a consistent entry: its first bytes, the size the header says', async () => {
    const tree = join(work, 'grow');
    mkdirSync(tree);
    writeFileSync(join(tree, 'log'), 'start;');
    const changes = await treeChanges(empty, tree, { xattrs: false });
    appendFileSync(join(tree, 'log'), 'more'.repeat(1000));
    const r = (await writeLayer(changes, { tmpDir: out, compression: 'none' }))!;
    const list = await members(readFileSync(r.path));
    expect(list.find((m) => m.name === 'log')?.body.toString()).toBe('start;');
    expect(existsSync(r.path)).toBe(true);
    rmSync(r.path);
  });
});

describe('treeChanges content check', () => {
  it.each([
    { what: 'the last byte of a multi-chunk file', size: 600_000, edit: (b: Buffer) => { b[b.length - 1] ^= 1; }, changed: true },
    { what: 'the first byte', size: 600_000, edit: (b: Buffer) => { b[0] ^= 1; }, changed: true },
    { what: 'nothing', size: 600_000, edit: () => undefined, changed: false },
    { what: 'nothing (empty file)', size: 0, edit: () => undefined, changed: false },
  ])('a file with the same size and mtime after the step started, changed: $what -> in the layer: $changed', async ({ what: _what, size, edit, changed }) => {
    const before = join(work, `tc-before-${_what.length}-${size}`);
    const after = join(work, `tc-after-${_what.length}-${size}`);
    mkdirSync(before);
    const body = Buffer.from(Array.from({ length: size }, (_, i) => (i * 13) % 256));
    writeFileSync(join(before, 'data'), body);
    utimesSync(join(before, 'data'), 1_700_000_000, 1_700_000_000);
    execFileSync('cp', ['-a', before, after]);
    const since = Date.now();
    const edited = Buffer.from(body);
    edit(edited);
    writeFileSync(join(after, 'data'), edited);
    utimesSync(join(after, 'data'), 1_700_000_000, 1_700_000_000);
    expect(statSync(join(after, 'data')).mtimeMs).toBe(statSync(join(before, 'data')).mtimeMs);
    const changes = await treeChanges(before, after, { since, xattrs: false });
    expect(changes.some((c) => c.path === 'data')).toBe(changed);
  });
});
