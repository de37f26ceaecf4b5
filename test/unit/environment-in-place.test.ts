import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLayer, type Layer } from '../../src/image/index.js';
import { InPlaceExecutor, InPlaceKeepSet, inPlaceKeepSet } from '../../src/runtime/index.js';
import { classifyEntry, filterLayerTar } from '../../src/runtime/modes/in-place-filter.js';
import { RootSnapshot } from '../../src/runtime/modes/in-place-scan.js';
import { wipeExceptKept } from '../../src/runtime/modes/in-place-wipe.js';
import { applyLayer, UnpackCache, type LayerResult } from '../../src/snapshot/index.js';
import { tarOf, testImages, type TestImages } from '../helpers/images.js';
import { normalizedTree } from '../helpers/tree-compare.js';
import { isRoot } from '../setup/tools.js';

let dir: string;
let images: TestImages;
let cache: UnpackCache;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slipway-inplace-unit-'));
  images = await testImages();
  cache = new UnpackCache(join(dir, 'layers'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function scratch(): string {
  const d = join(dir, `t${n++}`);
  mkdirSync(d);
  return d;
}

/** The tree D's unpacker makes of `layers`: what the root must equal. */
async function expected(layers: readonly Layer[]): Promise<string[]> {
  const d = join(scratch(), 'rootfs');
  await cache.materialize(layers, d);
  return normalizedTree(d);
}

/** `root` without what the test put there to be kept. */
function treeOf(root: string, kept: readonly string[]): string[] {
  return normalizedTree(root, (rel) => kept.some((k) => `/${rel}` === k || `/${rel}`.startsWith(`${k}/`) || k.startsWith(`/${rel}/`)));
}

/** A root holding the container's own files, a volume-like kept dir and a kept install dir. */
function containerRoot(): { root: string; keep: InPlaceKeepSet; kept: string[] } {
  const root = scratch();
  for (const d of ['usr/bin', 'etc', 'proc', 'builds/ctx', 'opt/slipway/dist']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'usr/bin/host-tool'), 'host');
  writeFileSync(join(root, 'etc/os-release'), 'host os');
  writeFileSync(join(root, 'proc/cpuinfo'), 'cpu');
  writeFileSync(join(root, 'builds/ctx/Dockerfile'), 'FROM scratch');
  writeFileSync(join(root, 'opt/slipway/dist/index.js'), 'code');
  const keep = inPlaceKeepSet({ mountinfo: '', installDir: '/opt/slipway', extra: ['/builds/ctx'] });
  return { root, keep, kept: ['/proc', '/builds/ctx', '/opt/slipway', '/opt', '/builds', '/sys', '/dev'] };
}

function keptIntact(root: string): void {
  expect(readFileSync(join(root, 'proc/cpuinfo'), 'utf8')).toBe('cpu');
  expect(readFileSync(join(root, 'builds/ctx/Dockerfile'), 'utf8')).toBe('FROM scratch');
  expect(readFileSync(join(root, 'opt/slipway/dist/index.js'), 'utf8')).toBe('code');
}

describe('in-place keep set', () => {
  it('keeps /proc, /sys, /dev, mount points, the install dir and extras, and knows their ancestors', () => {
    const k = inPlaceKeepSet({ mountinfo: '27 1 254:0 / / rw - ext4 /dev/vda rw\n30 27 0:5 / /builds/vol rw - ext4 /dev/vdb rw\n', installDir: '/opt/slipway', extra: ['/root/.local/share/slipway'], env: { SLIPWAY_IN_PLACE_KEEP: '/cache:/x/y' } });
    for (const p of ['/proc', '/proc/1/status', '/sys', '/dev/null', '/builds/vol/a', '/opt/slipway', '/root/.local/share/slipway/oci', '/cache', '/x/y/z']) expect(k.isKept(p), p).toBe(true);
    for (const p of ['/', '/builds', '/opt', '/etc/passwd', '/procx', '/root', '/x']) expect(k.isKept(p), p).toBe(false);
    for (const p of ['/', '/builds', '/opt', '/root/.local', '/x']) expect(k.holdsKept(p), p).toBe(true);
    expect(k.holdsKept('/etc')).toBe(false);
  });

  it('wipes everything but kept paths and the directories holding them', () => {
    const { root, keep } = containerRoot();
    wipeExceptKept(root, '/', keep);
    keptIntact(root);
    expect(existsSync(join(root, 'usr'))).toBe(false);
    expect(existsSync(join(root, 'etc'))).toBe(false);
    expect(normalizedTree(root).map((l) => l.split(' ')[0])).toEqual(['builds', 'builds/ctx', 'builds/ctx/Dockerfile', 'opt', 'opt/slipway', 'opt/slipway/dist', 'opt/slipway/dist/index.js', 'proc', 'proc/cpuinfo']);
  });
});

describe('in-place layer filter', () => {
  const keep = new InPlaceKeepSet(['/proc', '/builds/ctx', '/opt/slipway']);
  it.each([
    ['etc/passwd', 'file', undefined, 'pass'],
    ['proc/', 'directory', undefined, 'drop'],
    ['proc/self', 'symlink', undefined, 'drop'],
    ['builds/', 'directory', undefined, 'pass'],
    ['builds', 'symlink', undefined, 'drop'],
    ['opt/slipway/evil', 'file', undefined, 'drop'],
    ['opt/.wh.slipway', 'file', undefined, 'drop'],
    ['.wh.builds', 'file', undefined, 'empty'],
    ['.wh..wh..opq', 'file', undefined, 'drop'],
    ['opt/.wh..wh..opq', 'file', undefined, 'drop'],
    ['etc/.wh..wh..opq', 'file', undefined, 'pass'],
    ['etc/.wh.motd', 'file', undefined, 'pass'],
    ['bin/ln', 'link', 'opt/slipway/node', 'drop'],
    ['./', 'directory', undefined, 'pass'],
  ])('%s (%s, link to %s) -> %s', (name, type, linkname, action) => {
    expect(classifyEntry({ name, type, linkname: linkname ?? null }, keep).action).toBe(action);
  });

  it('re-streams a layer without the dropped entries, content intact', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const tar = await tarOf([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/big', content: big },
      { name: 'opt/slipway/evil', content: 'x' },
      { name: 'etc/small', content: 'small' },
    ]);
    const warnings: string[] = [];
    const out = filterLayerTar((async function* () { yield tar; })(), { keep, layer: 'sha256:test', onWarning: (m) => warnings.push(m) });
    const root = scratch();
    await applyLayer(out, root, { layer: 'filtered', mode: 'flatten' });
    expect(readFileSync(join(root, 'etc/big')).equals(big)).toBe(true);
    expect(readFileSync(join(root, 'etc/small'), 'utf8')).toBe('small');
    expect(existsSync(join(root, 'opt'))).toBe(false);
    expect(warnings).toEqual([expect.stringContaining('/opt/slipway/evil is kept')]);
  });
});

describe('in-place executor (a scratch dir standing in for /)', () => {
  it('replaces the container files with the image, leaving kept paths alone', async () => {
    const { root, keep, kept } = containerRoot();
    const ex = new InPlaceExecutor({ root, keep });
    await ex.prepare(images.multi.layers);
    keptIntact(root);
    expect(existsSync(join(root, 'usr/bin/host-tool'))).toBe(false);
    expect(treeOf(root, kept)).toEqual(await expected(images.multi.layers));
    expect(ex.holding).toEqual(images.multi.layers.map((l) => l.diffId));
  });

  it('applies only the missing layers when the root holds a prefix, and starts over otherwise', async () => {
    const { root, keep, kept } = containerRoot();
    const ex = new InPlaceExecutor({ root, keep });
    await ex.prepare(images.busybox.layers);
    writeFileSync(join(root, 'marker'), 'survives an incremental prepare');
    await ex.prepare(images.multi.layers);
    expect(existsSync(join(root, 'marker'))).toBe(true);
    const other = memoryLayer(await tarOf([{ name: 'only/', type: 'directory' }, { name: 'only/file', content: 'other stage' }]));
    await ex.prepare([other]);
    expect(existsSync(join(root, 'marker'))).toBe(false);
    expect(treeOf(root, kept)).toEqual(await expected([other]));
    keptIntact(root);
  });

  it('never writes a kept path from a hostile or unlucky layer', async () => {
    const { root, keep } = containerRoot();
    const ex = new InPlaceExecutor({ root, keep, onWarning: () => undefined });
    const bad = memoryLayer(await tarOf([
      { name: 'proc/cpuinfo', content: 'fake' },
      { name: 'opt/slipway/dist/index.js', content: 'overwritten' },
      { name: 'builds', type: 'symlink', linkname: '/etc' },
      { name: 'ok', content: 'ok' },
    ]));
    await ex.prepare([bad]);
    keptIntact(root);
    expect(statSync(join(root, 'builds')).isDirectory()).toBe(true);
    expect(readFileSync(join(root, 'ok'), 'utf8')).toBe('ok');
  });

  it('detects additions, changes, removals and type changes from metadata alone', async () => {
    const { root, keep } = containerRoot();
    const ex = new InPlaceExecutor({ root, keep });
    await ex.prepare(images.multi.layers);
    const snap = RootSnapshot.take(root, keep);
    writeFileSync(join(root, 'data/file1.txt'), 'one\n'); // same content and size: still a write
    rmSync(join(root, 'data/dir'), { recursive: true });
    rmSync(join(root, 'etc/motd'));
    mkdirSync(join(root, 'etc/motd'));
    writeFileSync(join(root, 'new.txt'), 'new');
    writeFileSync(join(root, 'builds/ctx/ignored'), 'kept paths are never captured');
    const ch = snap.changes().map((e) => `${e.type} ${e.path}`).sort();
    expect(ch).toEqual(['dir data', 'dir etc', 'dir etc/motd', 'file data/file1.txt', 'file new.txt', 'hardlink data/hardlink', 'whiteout data/dir'].map((s) => s.replace('hardlink data/hardlink', 'file data/hardlink')).sort());
  });
});

describe.skipIf(!isRoot)('in-place steps (chroot into the scratch root; root only)', () => {
  /** Applies a step's layer over the base elsewhere: must give the tree the step left in the root. */
  async function roundTrip(base: readonly Layer[], written: LayerResult): Promise<string[]> {
    const d = join(scratch(), 'rt');
    await cache.materialize(base, d);
    await applyLayer(createReadStream(written.path), d, { layer: 'step', mode: 'flatten' });
    return normalizedTree(d);
  }

  it('runs a RUN step with user, env and workdir, and its layer reproduces the root', async () => {
    const { root, keep, kept } = containerRoot();
    const ex = new InPlaceExecutor({ root, keep });
    const out: string[] = [];
    const r = await ex.runStep(
      images.busybox.layers,
      {
        argv: ['/bin/sh', '-c', 'echo "$GREETING $(id -u):$(id -g) $(pwd)" > /tmp/out && id -u > out; rm /etc/group; mkdir -p /var/lib/app && chown 1000:1000 /var/lib/app && echo done'],
        env: ['PATH=/bin', 'GREETING=hello'],
        cwd: '/home/user/work',
        user: 'user',
        location: 'Dockerfile:3',
      },
      { stdout: (b) => out.push(b.toString()) },
      { tmpDir: scratch() },
    );
    // `user` cannot create /var/lib/app as uid 1000: the step fails, the root is marked unknown
    expect(r.exitCode).not.toBe(0);
    expect(ex.holding).toBeUndefined();

    const ok = await ex.runStep(
      images.busybox.layers,
      { argv: ['/bin/sh', '-c', 'echo "$GREETING $(id -u) $(pwd)" > /tmp/out; rm /etc/group; mkdir -p /var/lib/app && chown 1000:1000 /var/lib/app && echo done'], env: ['PATH=/bin', 'GREETING=hello'], cwd: '/srv', location: 'Dockerfile:4' },
      { stdout: (b) => out.push(b.toString()) },
      { tmpDir: scratch() },
    );
    expect(ok.exitCode).toBe(0);
    expect(out.join('')).toContain('done');
    expect(readFileSync(join(root, 'tmp/out'), 'utf8')).toBe('hello 0 /srv\n');
    expect(statSync(join(root, 'var/lib/app')).uid).toBe(1000);
    keptIntact(root);
    expect(ok.layer).toBeDefined();
    expect(treeOf(root, kept)).toEqual(await roundTrip(images.busybox.layers, ok.layer!));
    expect(ex.holding).toEqual([...images.busybox.layers.map((l) => l.diffId), ok.layer!.diffId]);
  });

  it('restores each stage exactly when steps of two stages interleave', async () => {
    const { root, keep, kept } = containerRoot();
    const ex = new InPlaceExecutor({ root, keep });
    const w = () => ({ tmpDir: scratch() });
    const a1 = await ex.runStep(images.busybox.layers, { argv: ['/bin/sh', '-c', 'mkdir /stage-a && echo a > /stage-a/file'], env: ['PATH=/bin'] }, {}, w());
    const b1 = await ex.runStep(images.multi.layers, { argv: ['/bin/sh', '-c', 'echo b > /data/b && rm /data/file1.txt'], env: ['PATH=/bin'] }, {}, w());
    expect(existsSync(join(root, 'stage-a'))).toBe(false);
    const aLayers = [...images.busybox.layers, memoryLayer(gunzipSync(readFileSync(a1.layer!.path)))];
    const a2 = await ex.runStep(aLayers, { argv: ['/bin/sh', '-c', 'test -f /stage-a/file && test ! -e /data && echo a2 > /stage-a/second'], env: ['PATH=/bin'] }, {}, w());
    expect(a2.exitCode).toBe(0);
    expect(treeOf(root, kept)).toEqual(await roundTrip(aLayers, a2.layer!));
    const bLayers = [...images.multi.layers, memoryLayer(gunzipSync(readFileSync(b1.layer!.path)))];
    await ex.prepare(bLayers);
    expect(treeOf(root, kept)).toEqual(await expected(bLayers));
    expect(existsSync(join(root, 'data/file1.txt'))).toBe(false);
  });

  it('kills what a step leaves running in the background', async () => {
    const { root, keep } = containerRoot();
    const ex = new InPlaceExecutor({ root, keep });
    const t0 = Date.now();
    const r = await ex.runStep(images.busybox.layers, { argv: ['/bin/sh', '-c', '(sleep 30; echo late > /late) & echo started'], env: ['PATH=/bin'] }, {}, { tmpDir: scratch() });
    expect(r.exitCode).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await new Promise((res) => setTimeout(res, 300));
    expect(existsSync(join(root, 'late'))).toBe(false);
  });
});
