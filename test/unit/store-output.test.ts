import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, MediaType, type ImageIndex } from '../../src/oci/index.js';
import { LayoutStore, parseOutputSpec, writeOutput, type ReadableStore } from '../../src/store/index.js';
import { requireTools } from '../setup/tools.js';
import { testImages, type TestImages } from '../helpers/images.js';

const tools = requireTools('skopeo', 'umoci', 'oci-image-tool');
const work = mkdtempSync(join(tmpdir(), 'slipway-output-test-'));
let n = 0;
const path = (name: string) => join(work, `${++n}-${name}`);
afterAll(() => rmSync(work, { recursive: true, force: true }));

let imgs: TestImages;
let src: LayoutStore;
beforeAll(async () => {
  imgs = await testImages();
  src = await LayoutStore.open(imgs.dir, { create: false });
});

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inspect = (ref: string) => JSON.parse(sh('skopeo', ['inspect', ref])) as { Digest: string; Layers: string[]; Architecture: string; RepoTags?: string[] };
/** umoci checks every layer's diffID against the config: the strictest reader here. */
function umociUnpack(layoutRef: string): string {
  const bundle = path('bundle');
  sh('umoci', ['unpack', '--rootless', '--image', layoutRef, bundle]);
  return join(bundle, 'rootfs');
}

describe('parseOutputSpec', () => {
  it.each([
    ['type=oci,dest=out', { type: 'oci', dest: 'out', tar: false }],
    ['type=oci,dest=out.tar', { type: 'oci', dest: 'out.tar', tar: true }],
    ['type=oci,dest=out,tar=true', { type: 'oci', dest: 'out', tar: true }],
    ['type=oci,dest=out.tar,tar=false', { type: 'oci', dest: 'out.tar', tar: false }],
    ['type=oci,dest=-', { type: 'oci', dest: '-', tar: true }],
    ['type=docker,dest=img.tar,name=app:1', { type: 'docker', dest: 'img.tar', tar: true, names: ['app:1'] }],
    ['type=registry,"name=a:1,b:2"', { type: 'registry', push: true, names: ['a:1', 'b:2'] }],
    ['type=image,name=x,push=true', { type: 'image', push: true, names: ['x'] }],
    ['out/dir', { type: 'local', dest: 'out/dir' }],
    ['-', { type: 'tar', dest: '-' }],
    ['type=tar,dest=fs.tar', { type: 'tar', dest: 'fs.tar', tar: true }],
  ])('%s', (spec, want) => {
    expect(parseOutputSpec(spec)).toMatchObject(want);
  });

  it.each([
    ['', /empty/],
    ['dest=x', /missing type=/],
    ['type=zip,dest=x', /unknown type "zip"/],
    ['type=oci', /needs dest=PATH/],
    ['type=docker,dest=a.tar,tar=false', /always an archive/],
    ['type=oci,dest=-,tar=false', /cannot go to stdout/],
    ['type=oci,dest=x,tar=maybe', /not a boolean/],
    ['type=registry', /needs name=REF/],
    ['type=oci,dest="x', /unterminated quote/],
  ])('rejects %j', (spec, msg) => {
    expect(() => parseOutputSpec(spec)).toThrow(msg);
  });
});

describe.skipIf(!tools.ok)('outputs read by skopeo, umoci and oci-image-tool', () => {
  it('type=oci,dest=DIR writes a layout that validates and unpacks', async () => {
    const dir = path('layout');
    const r = await writeOutput(src, 'multi', parseOutputSpec(`type=oci,dest=${dir}`), { names: ['example.com/app:1.0'] });
    expect(r.descriptor.digest).toBe(imgs.multi.digest);
    sh('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=1.0', dir]);
    expect(inspect(`oci:${dir}:1.0`).Digest).toBe(imgs.multi.digest);
    const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as ImageIndex;
    expect(idx.manifests[0]?.annotations).toEqual({ 'io.containerd.image.name': 'example.com/app:1.0', 'org.opencontainers.image.ref.name': '1.0' });
    const rootfs = umociUnpack(`${dir}:1.0`);
    expect(readFileSync(join(rootfs, 'etc/motd'), 'utf8')).toBe('layer three\n');
    expect(readdirSync(dir).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
  });

  it('adds a second image to an existing layout and keeps the first', async () => {
    const dir = path('layout-add');
    await writeOutput(src, 'busybox', parseOutputSpec(`type=oci,dest=${dir}`), { names: ['a:one'] });
    await writeOutput(src, 'multi', parseOutputSpec(`type=oci,dest=${dir}`), { names: ['a:two'] });
    expect(inspect(`oci:${dir}:one`).Digest).toBe(imgs.busybox.digest);
    expect(inspect(`oci:${dir}:two`).Digest).toBe(imgs.multi.digest);
    sh('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=one', dir]);
    sh('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=two', dir]);
  });

  it('a multi-platform index goes whole into a layout', async () => {
    const dir = path('layout-index');
    await writeOutput(src, 'multiarch', parseOutputSpec(`type=oci,dest=${dir}`), { names: ['multi:arch'] });
    // (oci-image-tool 1.0.0-rc1 and umoci 0.4 cannot read an index inside index.json; skopeo can)
    expect(JSON.parse(sh('skopeo', ['inspect', '--override-arch', 'arm64', `oci:${dir}:arch`])).Architecture).toBe('arm64');
    const raw = JSON.parse(sh('skopeo', ['inspect', '--raw', `oci:${dir}:arch`])) as ImageIndex;
    expect(raw.mediaType).toBe(MediaType.OCI_INDEX);
    expect(raw.manifests.length).toBe(2);
  });

  it('type=oci,dest=FILE.tar writes an OCI archive', async () => {
    const file = path('image.tar');
    await writeOutput(src, 'multi', parseOutputSpec(`type=oci,dest=${file}`), { names: ['app:2'] });
    expect(inspect(`oci-archive:${file}:2`).Digest).toBe(imgs.multi.digest);
    const x = path('extracted');
    mkdirSync(x);
    sh('tar', ['-xf', file, '-C', x]);
    sh('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=2', x]);
    umociUnpack(`${x}:2`);
  });

  it('type=docker writes a docker-archive with RepoTags whose layers match the diff_ids', async () => {
    const file = path('docker.tar');
    await writeOutput(src, 'multi', parseOutputSpec(`type=docker,dest=${file},name=127.0.0.1:5000/app:1`), { names: ['busybox'] });
    const info = inspect(`docker-archive:${file}`);
    expect(info.Layers.length).toBe(3);
    expect(inspect(`docker-archive:${file}:busybox:latest`).Layers.length).toBe(3); // found by its RepoTag
    const manifest = JSON.parse(sh('tar', ['-xOf', file, 'manifest.json'])) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    expect(manifest[0]?.RepoTags.sort()).toEqual(['127.0.0.1:5000/app:1', 'busybox:latest']);
    expect(manifest[0]?.Config).toBe(`blobs/sha256/${imgs.multi.id.slice(7)}`);
    const layout = path('from-docker');
    sh('skopeo', ['copy', '--quiet', `docker-archive:${file}`, `oci:${layout}:x`]);
    const rootfs = umociUnpack(`${layout}:x`);
    expect(existsSync(join(rootfs, 'data/file2.txt'))).toBe(false);
  });

  it('type=docker picks one platform out of an index', async () => {
    const file = path('docker-arm.tar');
    await writeOutput(src, 'multiarch', parseOutputSpec(`type=docker,dest=${file}`), { names: ['bb:arm'], platform: { os: 'linux', architecture: 'arm64' } });
    expect(inspect(`docker-archive:${file}`).Architecture).toBe('arm64');
  });
});

describe('outputs are never half-written', () => {
  /** A source that serves everything but fails on the last layer. */
  async function brokenSource(): Promise<ReadableStore> {
    const broken = await LayoutStore.open(path('broken-src'));
    const { copy } = await import('../../src/store/index.js');
    await copy(src, 'multi', broken, 'multi');
    const last = imgs.multi.layers.at(-1)?.descriptor.digest as string;
    writeFileSync(broken.blobPath(last), 'corrupted');
    return broken;
  }

  it.each([
    ['type=oci,dest=DIR', (p: string) => `type=oci,dest=${p}`],
    ['type=oci,dest=FILE.tar', (p: string) => `type=oci,dest=${p}.tar`],
    ['type=docker', (p: string) => `type=docker,dest=${p}.tar`],
  ])('%s: a failing copy leaves no output and no temp file', async (_name, specFor) => {
    const s = await brokenSource();
    const parent = path('parent');
    mkdirSync(parent);
    const spec = parseOutputSpec(specFor(join(parent, 'out')));
    await expect(writeOutput(s, 'multi', spec, { names: ['x:1'] })).rejects.toThrow(/size mismatch|digest mismatch/);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('refuses to write a layout into a non-empty directory that is not one', async () => {
    const dir = path('occupied');
    mkdirSync(dir);
    writeFileSync(join(dir, 'keep.txt'), 'mine');
    await expect(writeOutput(src, 'busybox', parseOutputSpec(`type=oci,dest=${dir}`))).rejects.toThrow(/not an OCI image layout/);
    expect(readdirSync(dir)).toEqual(['keep.txt']);
  });

  it('writes an archive to a stream for dest=-', async () => {
    const chunks: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const out = new Writable({ write(c: Buffer, _e, cb) { chunks.push(c); cb(); } });
    await writeOutput(src, 'busybox', parseOutputSpec('type=oci,dest=-'), { stdout: out });
    const file = path('stdout.tar');
    writeFileSync(file, Buffer.concat(chunks));
    expect(digestOf(Buffer.concat(chunks)).length).toBe(71);
    if (tools.ok) expect(inspect(`oci-archive:${file}`).Digest).toBe(imgs.busybox.digest);
  });
});
