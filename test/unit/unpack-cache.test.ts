import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { Layer } from '../../src/image/index.js';
import { LayerCorruptError, LayerUnsafeError, UnpackCache } from '../../src/snapshot/index.js';
import { type FixtureEntry, tarFixture } from '../helpers/tar-fixtures.js';
import { normalizedTree } from '../helpers/tree-compare.js';
import { isRoot } from '../setup/tools.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-ucache-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function layerOf(entries: FixtureEntry[], opts: { wrongDiffId?: boolean } = {}): Layer & { opens: number } {
  const gz = tarFixture(entries, { gzip: true });
  const l = {
    opens: 0,
    descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length },
    diffId: opts.wrongDiffId ? sha(Buffer.from('other')) : sha(gunzipSync(gz)),
    async open() {
      l.opens += 1;
      return Readable.from([gz]);
    },
  };
  return l;
}

const L1 = [
  { name: 'etc/' }, { name: 'etc/a', content: 'a' }, { name: 'etc/b', content: 'b' },
  { name: 'opt/' }, { name: 'opt/old/' }, { name: 'opt/old/x', content: 'x' }, { name: 'opt/keep', content: 'k' },
  { name: 'bin/' }, { name: 'bin/tool', content: 'tool', mode: 0o755 },
];
const L2 = [
  { name: 'etc/' }, { name: 'etc/.wh.a' },
  { name: 'opt/' }, { name: 'opt/.wh..wh..opq' }, { name: 'opt/new', content: 'n' },
  { name: 'usr/' }, { name: 'usr/tool-link', type: 'hardlink' as const, linkname: 'bin/tool' },
];

describe('UnpackCache', () => {
  it('unpacks a layer once per diffID and marks it complete', async () => {
    const cache = new UnpackCache(join(work, 'c1'));
    const l = layerOf(L1);
    const [d1, d2] = await Promise.all([cache.ensure(l), cache.ensure(l)]);
    const d3 = await cache.ensure(l);
    expect(d1).toBe(d2);
    expect(d3).toBe(d1);
    expect(d1).toBe(join(work, 'c1', 'sha256', l.diffId.slice(7), 'fs'));
    expect(l.opens).toBe(1);
    expect(await cache.list()).toEqual([l.diffId]);
    expect(readdirSync(join(work, 'c1')).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    const again = new UnpackCache(join(work, 'c1'));
    await again.ensure(l);
    expect(l.opens).toBe(1);
  });

  it('refuses a layer whose content does not match its diffID and leaves nothing behind', async () => {
    const cache = new UnpackCache(join(work, 'c2'));
    const err = await cache.ensure(layerOf(L1, { wrongDiffId: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerCorruptError);
    expect(readdirSync(join(work, 'c2')).filter((n) => n !== 'sha256')).toEqual([]);
    expect(await cache.list()).toEqual([]);
  });

  it('refuses hostile layers and leaves nothing behind', async () => {
    const cache = new UnpackCache(join(work, 'c3'));
    await expect(cache.ensure(layerOf([{ name: '../escape', content: 'x' }]))).rejects.toBeInstanceOf(LayerUnsafeError);
    expect(readdirSync(join(work, 'c3'))).toEqual([]);
  });

  it('materializes a flat rootfs with whiteouts, opaque dirs and cross-layer hard links applied', async () => {
    const cache = new UnpackCache(join(work, 'c4'));
    const dest = join(work, 'flat4');
    await cache.materialize([layerOf(L1), layerOf(L2)], dest);
    expect(normalizedTree(dest).map((l) => l.split(' ')[0])).toEqual(['bin', 'bin/tool', 'etc', 'etc/b', 'opt', 'opt/new', 'usr', 'usr/tool-link']);
    await expect(cache.materialize([layerOf(L1)], dest)).rejects.toThrow(/not empty/);
  });

  it.runIf(isRoot)('gives lower dirs that overlay mounts to the same tree as materialize', async () => {
    const cache = new UnpackCache(join(work, 'c5'));
    const layers = [layerOf(L1), layerOf(L2)];
    const lowers = await cache.lowerDirs(layers);
    expect(lowers).toEqual([await cache.ensure(layers[1]!), await cache.ensure(layers[0]!)]);
    const flat = join(work, 'flat5');
    await cache.materialize(layers, flat);
    const merged = join(work, 'merged5');
    mkdirSync(merged);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')}`, merged]);
    try {
      expect(normalizedTree(merged)).toEqual(normalizedTree(flat));
    } finally {
      execFileSync('umount', [merged]);
    }
    expect(existsSync(join(lowers[0]!, 'etc/a'))).toBe(true); // the whiteout device lives in the layer dir
  });

  it('records each layer\'s opaque dirs in its marker, topmost layer first, read back by a new cache', async () => {
    const dir = join(work, 'c6');
    const layers = [layerOf(L1), layerOf([...L2, { name: '.wh..wh..opq' }, { name: 'srv/' }, { name: 'srv/data/' }, { name: 'srv/data/.wh..wh..opq' }])];
    const cache = new UnpackCache(dir);
    expect(cache.opaqueDirs(layers)).toBeUndefined(); // nothing unpacked yet
    await cache.lowerDirs(layers);
    const want = [new Set(['/', '/opt', '/srv/data']), new Set<string>()];
    expect(cache.opaqueDirs(layers)).toEqual(want);
    expect(new UnpackCache(dir).opaqueDirs(layers)).toEqual(want);
    expect(new UnpackCache(dir).opaqueDirs([layerOf([{ name: 'other', content: 'o' }])])).toBeUndefined();
  });

  it('answers undefined for a layer whose marker predates the opaque dirs field', async () => {
    const dir = join(work, 'c7');
    const l = layerOf(L1);
    await new UnpackCache(dir).ensure(l);
    const marker = join(dir, 'sha256', l.diffId.slice(7), 'unpacked.json');
    const { opaqueDirs, ...old } = JSON.parse(readFileSync(marker, 'utf8')) as { opaqueDirs: string[] };
    expect(opaqueDirs).toEqual([]);
    writeFileSync(marker, JSON.stringify(old));
    expect(new UnpackCache(dir).opaqueDirs([l])).toBeUndefined();
  });
});
