import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync, linkSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LayerEntry, diffTrees, layerFromEntries, writeLayer } from '../../src/snapshot/index.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-writer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const empty = join(work, 'empty');

/** Reads a tar with tar-stream (an independent reader): [name, type, uid, gid, uname, linkname, size, pax keys]. */
async function listTar(buf: Buffer): Promise<{ name: string; type: string; uid: number; gid: number; uname: string; linkname: string | null; size: number; mtime: number; pax: Record<string, string> | null; body: string }[]> {
  const ex = tar.extract();
  const out: Awaited<ReturnType<typeof listTar>> = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const h = entry.header;
      out.push({ name: h.name, type: h.type ?? '', uid: h.uid ?? -1, gid: h.gid ?? -1, uname: h.uname ?? '', linkname: h.linkname ?? null, size: h.size ?? 0, mtime: (h.mtime?.getTime() ?? 0) / 1000, pax: (h.pax as Record<string, string> | null) ?? null, body: Buffer.concat(chunks).toString() });
    }
  })();
  Readable.from([buf]).pipe(ex);
  await done;
  return out;
}

function makeTree(dir: string, mtime: number): void {
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  writeFileSync(join(dir, 'etc/hosts'), '127.0.0.1 injected\n');
  writeFileSync(join(dir, 'etc/os-release'), 'ID=test\n');
  writeFileSync(join(dir, 'usr/bin/tool'), 'binary');
  chmodSync(join(dir, 'usr/bin/tool'), 0o4755);
  linkSync(join(dir, 'usr/bin/tool'), join(dir, 'usr/bin/tool-alias'));
  symlinkSync('tool', join(dir, 'usr/bin/link'));
  const long = join(dir, 'usr', 'l'.repeat(90), 'm'.repeat(90));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, 'n'.repeat(120)), 'deep');
  writeFileSync(join(dir, 'usr/big'), Buffer.alloc(300_000, 7));
  execFileSync('sh', ['-c', `find ${dir} -exec touch -h -d @${mtime} {} +`]);
}

beforeAll(() => {
  mkdirSync(empty);
});

describe('writeLayer', () => {
  it('returns undefined for an empty change set, and when everything is excluded', async () => {
    expect(await writeLayer([])).toBeUndefined();
    const only: LayerEntry[] = [{ path: 'etc/hosts', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1, size: 1, source: { data: Buffer.from('x') } }];
    expect(await writeLayer(only, { exclude: ['/etc/hosts'] })).toBeUndefined();
  });

  it('writes sorted entries, hard links once as relative names, numeric ids only, PAX for long names, no excluded paths', async () => {
    const t = join(work, 'tree1');
    makeTree(t, 1_700_000_000);
    const r = await diffTrees(empty, t, { compression: 'none', exclude: ['/etc/hosts'] });
    expect(r).toBeDefined();
    const entries = await listTar(readFileSync(r!.path));
    const names = entries.map((e) => e.name);
    expect(names).toEqual([...names].sort((a, b) => a.split('/').join('\0').localeCompare(b.split('/').join('\0'))));
    expect(names).not.toContain('etc/hosts');
    expect(names).toContain('etc/os-release');
    const tool = entries.filter((e) => e.name.startsWith('usr/bin/tool'));
    expect(tool.map((e) => [e.name, e.type, e.linkname])).toEqual([['usr/bin/tool', 'file', null], ['usr/bin/tool-alias', 'link', 'usr/bin/tool']]);
    expect(entries.every((e) => e.uname === '' && e.uid === 0)).toBe(true);
    const deep = entries.find((e) => e.name.endsWith('n'.repeat(120)));
    expect(deep?.body).toBe('deep');
    expect(deep?.pax?.path).toBe(deep?.name);
    expect(entries.find((e) => e.name === 'usr/big')?.size).toBe(300_000);
    rmSync(r!.path);
  });

  it('compresses on several cores into independent gzip members readable by gzip and tar; diffID is the sha256 of the tar', async () => {
    const t = join(work, 'tree2');
    makeTree(t, 1_700_000_000);
    const r = (await diffTrees(empty, t, { compression: 'gzip', blockSize: 64 * 1024, concurrency: 4 }))!;
    execFileSync('gzip', ['-t', r.path]);
    const listing = execFileSync('tar', ['-tzf', r.path], { encoding: 'utf8' });
    expect(listing).toContain('usr/bin/tool-alias');
    const raw = execFileSync('sh', ['-c', `gzip -dc ${r.path}`], { maxBuffer: 1 << 26 });
    expect(r.diffId).toBe(`sha256:${createHash('sha256').update(raw).digest('hex')}`);
    expect(r.uncompressedSize).toBe(raw.length);
    const file = readFileSync(r.path);
    expect(r.descriptor).toEqual({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${createHash('sha256').update(file).digest('hex')}`, size: file.length });
    // more than one member: the gzip magic occurs at several member starts
    let members = 0;
    for (let i = file.indexOf(Buffer.from([0x1f, 0x8b, 8])); i >= 0; i = file.indexOf(Buffer.from([0x1f, 0x8b, 8]), i + 1)) members++;
    expect(members).toBeGreaterThan(3);
    expect(file[9]).toBe(0xff);
    expect(gunzipSync(file).equals(raw)).toBe(true);
    rmSync(r.path);
  });

  it.each([['zstd', 'application/vnd.oci.image.layer.v1.tar+zstd'], ['none', 'application/vnd.oci.image.layer.v1.tar']] as const)('writes %s layers with both digests', async (compression, mediaType) => {
    const t = join(work, `tree-${compression}`);
    makeTree(t, 1_700_000_000);
    const r = (await diffTrees(empty, t, { compression }))!;
    const raw = compression === 'zstd' ? execFileSync('zstd', ['-dc', r.path], { maxBuffer: 1 << 26 }) : readFileSync(r.path);
    expect(r.diffId).toBe(`sha256:${createHash('sha256').update(raw).digest('hex')}`);
    expect(r.descriptor.mediaType).toBe(mediaType);
    expect(r.descriptor.digest).toBe(`sha256:${createHash('sha256').update(readFileSync(r.path)).digest('hex')}`);
    rmSync(r.path);
  });

  it('is reproducible: the same tree at different times gives the same digest once mtimes are clamped', async () => {
    const a = join(work, 'rep-a');
    const b = join(work, 'rep-b');
    makeTree(a, 1_700_000_000);
    makeTree(b, 1_750_000_000);
    const ts = 1_600_000_000;
    const [ra, ra2, rb] = [await diffTrees(empty, a, { timestamp: ts }), await diffTrees(empty, a, { timestamp: ts }), await diffTrees(empty, b, { timestamp: ts })];
    expect(ra!.descriptor.digest).toBe(ra2!.descriptor.digest);
    expect(ra!.descriptor.digest).toBe(rb!.descriptor.digest);
    expect(ra!.diffId).toBe(rb!.diffId);
    const unclamped = await diffTrees(empty, b);
    expect(unclamped!.diffId).not.toBe(ra!.diffId);
    const entries = await listTar(gunzipSync(readFileSync(ra!.path)));
    expect(Math.max(...entries.map((e) => e.mtime))).toBe(ts);
    for (const r of [ra, ra2, rb, unclamped]) rmSync(r!.path);
  });

  it('builds COPY layers from an explicit list (host files, buffers, streams) without scanning', async () => {
    const src = join(work, 'copy-src.txt');
    writeFileSync(src, 'from host');
    utimesSync(src, 1_650_000_000, 1_650_000_000);
    const r = (await layerFromEntries([
      { dest: '/app/', type: 'dir', mode: 0o755, uid: 1000, gid: 1000, mtime: 5 },
      { dest: '/app/main.txt', source: src, uid: 1000, gid: 1000, mode: 0o640 },
      { dest: '/app/inline', source: Buffer.from('inline'), mtime: 7 },
      { dest: '/app/streamed', source: { open: () => Readable.from([Buffer.from('str'), Buffer.from('eam')]), size: 6 } },
      { dest: '/app/ln', type: 'symlink', linkname: 'main.txt' },
    ], { compression: 'none' }))!;
    const entries = await listTar(readFileSync(r.path));
    expect(entries.map((e) => [e.name, e.type, e.uid, e.body])).toEqual([
      ['app/', 'directory', 1000, ''], ['app/inline', 'file', 0, 'inline'], ['app/ln', 'symlink', 0, ''],
      ['app/main.txt', 'file', 1000, 'from host'], ['app/streamed', 'file', 0, 'stream'],
    ]);
    expect(entries.find((e) => e.name === 'app/main.txt')?.mtime).toBe(1_650_000_000);
    rmSync(r.path);
  });

  it('removes its temp file when a source fails', async () => {
    const dir = join(work, 'tmp-out');
    mkdirSync(dir);
    await expect(layerFromEntries([{ dest: 'x', source: { open: () => Readable.from([Buffer.from('short')]), size: 100 } }], { tmpDir: dir })).rejects.toThrow(/declared 100/);
    expect(existsSync(dir) && execFileSync('ls', ['-A', dir], { encoding: 'utf8' })).toBe('');
  });
});
