import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { LayerCorruptError, LayerUnsafeError, applyLayer } from '../../src/snapshot/index.js';
import { type FixtureEntry, tarFixture } from '../helpers/tar-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-hostile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const LAYER = 'sha256:1111111111111111111111111111111111111111111111111111111111111111';
let n = 0;

/** A root and a sibling "outside" dir holding a secret that must survive. */
function setup(): { root: string; outside: string; snapshot: () => string } {
  const root = join(work, `root${n}`);
  const outside = join(work, `outside${n++}`);
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'secret');
  const snapshot = (): string => execFileSync('sh', ['-c', `cd ${outside} && find . -printf '%p %y %m %n %s\\n' | sort && cat secret`], { encoding: 'utf8' });
  return { root, outside, snapshot };
}

async function run(root: string, tar: Buffer, limits?: Record<string, number>) {
  return applyLayer(Readable.from([tar]), root, { layer: LAYER, mode: 'flatten', ...(limits ? { limits } : {}) });
}

/** name, layer entries (given the outside dir), verdict, extra check, optional second layer applied after the first. */
type Case = [string, (o: string) => FixtureEntry[], 'unsafe' | 'contained', ((root: string, o: string) => void)?, FixtureEntry[]?];

const cases: Case[] = [
  ['"../" escape', (o) => [{ name: `../${basename(o)}/pwned`, content: 'x' }], 'unsafe'],
  ['".." in the middle', (o) => [{ name: `a/../../${basename(o)}/pwned`, content: 'x' }], 'unsafe'],
  ['absolute path', (o) => [{ name: `${o}/pwned`, content: 'x' }], 'unsafe'],
  ['hard link to a file outside via ".."', (o) => [{ name: 'h', type: 'hardlink', linkname: `../${basename(o)}/secret` }], 'unsafe'],
  ['hard link to an absolute outside path (resolved inside the root: missing)', (o) => [{ name: 'h', type: 'hardlink', linkname: `${o}/secret` }], 'unsafe'],
  ['hard link through a symlink pointing outside', (o) => [
    { name: 'l', type: 'symlink', linkname: o }, { name: 'h', type: 'hardlink', linkname: 'l/secret' },
  ], 'unsafe'],
  ['hard link to a directory', () => [{ name: 'd/' }, { name: 'h', type: 'hardlink', linkname: 'd' }], 'unsafe'],
  ['whiteout for ".."', () => [{ name: 'a/.wh..' }], 'unsafe'],
  ['symlink to an absolute outside dir, then a file through it', (o) => [
    { name: 'a', type: 'symlink', linkname: o }, { name: 'a/secret', content: 'overwritten' }, { name: 'a/new', content: 'n' },
  ], 'contained', (root, o) => {
    expect(readFileSync(join(root, o, 'secret'), 'utf8')).toBe('overwritten');
  }],
  ['symlink with ../ climbing above the root, then a file through it', (o) => [
    { name: 'a', type: 'symlink', linkname: `../../../../${basename(o)}` }, { name: 'a/secret', content: 'overwritten' },
  ], 'contained', (root, o) => {
    expect(readFileSync(join(root, basename(o), 'secret'), 'utf8')).toBe('overwritten');
  }],
  ['directory replaced by an outside symlink, then a file through it', (o) => [
    { name: 'd/' }, { name: 'd/x', content: '1' }, { name: 'd', type: 'symlink', linkname: o }, { name: 'd/secret', content: 'overwritten' },
  ], 'contained'],
  ['a file written over a symlink to an outside file replaces the symlink', (o) => [
    { name: 's', type: 'symlink', linkname: `${o}/secret` }, { name: 's', content: 'mine' },
  ], 'contained', (root) => {
    expect(lstatSync(join(root, 's')).isFile()).toBe(true);
  }],
  ['a file written over a symlink to an outside directory replaces the symlink only', (o) => [
    { name: 's', type: 'symlink', linkname: o }, { name: 's', content: 'mine' }, { name: 'w', type: 'symlink', linkname: o }, { name: '.wh.w' },
  ], 'contained'],
  ['a whiteout naming a symlink to an outside directory removes the symlink only', (o) => [{ name: 'l', type: 'symlink', linkname: o }], 'contained', (root) => {
    expect(lstatSync(join(root, 'l'), { throwIfNoEntry: false })).toBeUndefined();
  }, [{ name: '.wh.l' }]],
  ['whiteout through a symlink to outside', (o) => [{ name: 'l', type: 'symlink', linkname: o }, { name: 'l/.wh.secret' }], 'contained'],
  ['opaque whiteout through a symlink to outside', (o) => [{ name: 'l', type: 'symlink', linkname: o }, { name: 'l/.wh..wh..opq' }], 'contained'],
  ['xattr on a path that later turns into an outside symlink', (o) => [
    { name: 'd/' }, { name: 'd/secret', content: 'x', pax: { 'SCHILY.xattr.user.evil': 'y' } }, { name: 'd', type: 'symlink', linkname: o },
  ], 'contained'],
  ['xattr on a symlink pointing outside (set on the link, never its target)', (o) => [
    { name: 's', type: 'symlink', linkname: `${o}/secret`, pax: { 'SCHILY.xattr.user.evil': 'y' } },
  ], 'contained'],
  ['directory mode on a path that later turns into an outside symlink', (o) => [
    { name: 'd/', mode: 0o777 }, { name: 'd', type: 'symlink', linkname: o },
  ], 'contained'],
];

describe('applyLayer: hostile layers never touch anything outside the root', () => {
  it.each(cases.map(([name, entries, verdict, check, next]) => ({ name, entries, verdict, check, next })))('$name: $verdict', async ({ entries, verdict, check, next }) => {
    const { root, outside, snapshot } = setup();
    const before = snapshot();
    const outsideMode = lstatSync(outside).mode;
    const p = run(root, tarFixture(entries(outside)));
    if (verdict === 'unsafe') {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LayerUnsafeError);
      expect((err as Error).message).toContain(LAYER);
    } else {
      await p;
      if (next) await run(root, tarFixture(next));
      check?.(root, outside);
    }
    expect(snapshot()).toBe(before);
    expect(lstatSync(outside).mode).toBe(outsideMode);
    expect(execFileSync('getfattr', ['-d', '-m', '-', join(outside, 'secret')], { encoding: 'utf8' })).not.toContain('evil');
  });

  it('refuses a file claiming an absurd size before writing it', async () => {
    const { root } = setup();
    const err = await run(root, tarFixture([{ name: 'huge', size: 2 ** 45, content: 'x' }])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerUnsafeError);
    expect((err as Error).message).toMatch(/huge.*claims 35184372088832 bytes/);
    expect(existsSync(join(root, 'huge'))).toBe(false);
  });

  it('refuses a layer whose total content exceeds the configured limit', async () => {
    const { root } = setup();
    const tar = tarFixture([{ name: 'a', content: Buffer.alloc(4000) }, { name: 'b', content: Buffer.alloc(4000) }]);
    await expect(run(root, tar, { maxLayerSize: 5000 })).rejects.toBeInstanceOf(LayerUnsafeError);
  });

  it('refuses an oversized PAX header instead of buffering it', async () => {
    const { root } = setup();
    const tar = tarFixture([{ name: 'x', content: 'x', pax: { comment: 'c'.repeat(2 << 20) } }]);
    await expect(run(root, tar)).rejects.toBeInstanceOf(LayerUnsafeError);
  });

  it('skips device nodes it may not create, with a warning (tested as real root only when mknod works)', async () => {
    const { root } = setup();
    const warnings: string[] = [];
    const r = await applyLayer(Readable.from([tarFixture([{ name: 'dev/' }, { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }])]), root,
      { layer: LAYER, mode: 'flatten', onWarning: (w) => warnings.push(w) });
    const st = lstatSync(join(root, 'dev/null'), { throwIfNoEntry: false });
    if (st === undefined) expect(warnings.join('\n')).toMatch(/skipped 1 device node.*dev\/null/);
    else expect(st.isCharacterDevice() && r.warnings.length === 0).toBe(true);
  });

  const base: FixtureEntry[] = [{ name: 'a/' }, { name: 'a/file', content: 'y'.repeat(5000) }, { name: 'b', content: 'b' }];
  const plain = tarFixture(base);
  const gz = gzipSync(plain);
  const corrupt = Buffer.from(gz);
  corrupt.fill(0x55, 20, 60);
  it.each([
    ['a tar truncated inside a file', plain.subarray(0, 1100)],
    ['a tar truncated inside a header', plain.subarray(0, 700)],
    ['a truncated gzip stream', gz.subarray(0, gz.length - 30)],
    ['a corrupt gzip stream', corrupt],
    ['a header with a bad checksum', tarFixture([{ name: 'x', content: 'x', badChecksum: true }])],
    ['a sparse file member', tarFixture([{ name: 'x', typeflag: 'S', content: 'x' }])],
    ['a corrupt zstd stream', Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(64, 7)])],
  ])('reports %s as a corrupt layer naming its digest', async (_name, data) => {
    const { root } = setup();
    const err = await run(root, data).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerCorruptError);
    expect((err as Error).message).toContain(LAYER);
  });

  it('leaves the root listing unchanged by refused entries (nothing half-written at the escape)', async () => {
    const { root } = setup();
    await run(root, tarFixture([{ name: 'ok', content: '1' }, { name: '../x', content: '2' }])).catch(() => undefined);
    expect(readdirSync(work).filter((f) => f === 'x')).toEqual([]);
  });
});
