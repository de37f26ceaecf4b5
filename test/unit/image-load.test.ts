import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Image, InvalidImageError, imageProblems, loadImage, manifestProblems, memoryLayer, validateImage,
} from '../../src/image/index.js';
import {
  MediaType, digestOf, hostPlatform, type Descriptor, type ImageConfig, type ImageManifest,
} from '../../src/oci/index.js';
import { LayoutStore } from '../../src/store/index.js';
import { tarOf, testImages, type TestImages } from '../helpers/images.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-image-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let imgs: TestImages;
let src: LayoutStore;
beforeAll(async () => {
  imgs = await testImages();
  src = await LayoutStore.open(imgs.dir, { create: false });
});

const json = (o: unknown): [Descriptor, Buffer] => {
  const b = Buffer.from(JSON.stringify(o));
  return [{ mediaType: (o as { mediaType?: string }).mediaType ?? 'application/octet-stream', digest: digestOf(b), size: b.length }, b];
};

describe('loadImage', () => {
  it('loads a tagged manifest with its exact bytes and digests', async () => {
    const img = await loadImage(src, 'multi');
    expect(img.digest).toBe(imgs.multi.digest);
    expect(img.id).toBe(imgs.multi.id);
    expect(img.layers.map((l) => l.diffId)).toEqual(imgs.multi.diffIds);
    expect(img.config.config?.WorkingDir).toBe('/data');
    expect(imageProblems(img)).toEqual([]);
  });

  it.each([
    [{ os: 'linux', architecture: 'arm64' }, 'arm64', 'v8'],
    [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, 'arm64', 'v8'],
    [{ os: 'linux', architecture: 'amd64' }, 'amd64', undefined],
  ])('picks %j out of an index', async (platform, arch, variant) => {
    const img = await loadImage(src, 'multiarch', { platform });
    expect(img.config.architecture).toBe(arch);
    expect(img.config.variant).toBe(variant);
    expect(img.digest).toBe((arch === 'arm64' ? imgs.arm64 : imgs.amd64).digest);
  });

  it('defaults to the host platform', async () => {
    const img = await loadImage(src, 'multiarch').catch((e: Error) => e);
    if (['amd64', 'arm64'].includes(hostPlatform().architecture)) expect((img as Image).config.architecture).toBe(hostPlatform().architecture);
    else expect(img).toBeInstanceOf(Error);
  });

  it('reads Docker v2 schema 2 manifests and lists; derived images are OCI with the same layer bytes', async () => {
    const store = await LayoutStore.open(join(work, 'docker'));
    const layer = memoryLayer(await tarOf([{ name: 'hello.txt', content: 'hi\n' }]));
    const [cfgD, cfgB] = json({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] }, docker_version: '24.0' });
    const manifest = { schemaVersion: 2, mediaType: MediaType.DOCKER_MANIFEST, config: { ...cfgD, mediaType: MediaType.DOCKER_CONFIG }, layers: [{ ...layer.descriptor, mediaType: MediaType.DOCKER_LAYER_GZIP }] };
    const [manD, manB] = json(manifest);
    const [listD, listB] = json({ schemaVersion: 2, mediaType: MediaType.DOCKER_MANIFEST_LIST, manifests: [{ ...manD, platform: { os: 'linux', architecture: 'amd64' } }] });
    await store.push(layer.descriptor, await layer.open());
    await store.push(cfgD, cfgB);
    await store.push(manD, manB);
    await store.push(listD, listB);
    await store.tag(listD, 'docker:list');
    const img = await loadImage(store, 'docker:list', { platform: { os: 'linux', architecture: 'amd64' } });
    expect(img.mediaType).toBe(MediaType.DOCKER_MANIFEST);
    expect(img.digest).toBe(manD.digest);
    expect(img.configDescriptor.mediaType).toBe(MediaType.DOCKER_CONFIG);
    expect(imageProblems(img)).toEqual([]);
    const child = img.append(memoryLayer(await tarOf([{ name: 'b.txt', content: 'b' }])));
    expect(child.mediaType).toBe(MediaType.OCI_MANIFEST);
    expect(child.manifest.config.mediaType).toBe(MediaType.OCI_CONFIG);
    expect(child.manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.OCI_LAYER_GZIP, MediaType.OCI_LAYER_GZIP]);
    expect(child.manifest.layers[0]?.digest).toBe(layer.descriptor.digest);
    expect((child.config as unknown as { docker_version: string }).docker_version).toBe('24.0');
    expect(imageProblems(child)).toEqual([]);
  });

  it('rejects a manifest whose config has fewer diff_ids than layers', async () => {
    const store = await LayoutStore.open(join(work, 'bad'));
    const layer = memoryLayer(await tarOf([{ name: 'a', content: 'a' }]));
    const [cfgD, cfgB] = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const [manD, manB] = json({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: { ...cfgD, mediaType: MediaType.OCI_CONFIG }, layers: [layer.descriptor] });
    await store.push(cfgD, cfgB);
    await store.push(manD, manB);
    await store.tag(manD, 'bad');
    await expect(loadImage(store, 'bad')).rejects.toThrow(InvalidImageError);
    await expect(loadImage(store, 'bad')).rejects.toThrow(/0 diff_ids but the manifest has 1 layers/);
  });
});

describe('manifestProblems', () => {
  const cfg: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf('x')] } };
  const layerD: Descriptor = { mediaType: MediaType.OCI_LAYER_GZIP, digest: digestOf('l'), size: 1 };
  const man = (over: Partial<ImageManifest> = {}): ImageManifest => ({
    schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: { mediaType: MediaType.OCI_CONFIG, digest: digestOf('c'), size: 1 }, layers: [layerD], ...over,
  });
  it.each([
    ['a valid OCI manifest', man(), MediaType.OCI_MANIFEST, cfg, null],
    ['an unknown layer type', man({ layers: [{ ...layerD, mediaType: 'text/plain' }] }), MediaType.OCI_MANIFEST, cfg, /not a layer type/],
    ['a Docker layer type in an OCI manifest', man({ layers: [{ ...layerD, mediaType: MediaType.DOCKER_LAYER_GZIP }] }), MediaType.OCI_MANIFEST, cfg, /not a layer type/],
    ['a Docker config in an OCI manifest', man({ config: { mediaType: MediaType.DOCKER_CONFIG, digest: digestOf('c'), size: 1 } }), MediaType.OCI_MANIFEST, cfg, /does not fit a OCI manifest/],
    ['a mediaType field that disagrees', man(), MediaType.DOCKER_MANIFEST, cfg, /manifest says mediaType/],
    ['schemaVersion 1', { ...man(), schemaVersion: 1 as 2 }, MediaType.OCI_MANIFEST, cfg, /schemaVersion is 1/],
    ['diff_ids count mismatch', man({ layers: [layerD, layerD] }), MediaType.OCI_MANIFEST, cfg, /1 diff_ids but the manifest has 2 layers/],
    ['rootfs type wrong', man(), MediaType.OCI_MANIFEST, { ...cfg, rootfs: { type: 'x' as 'layers', diff_ids: cfg.rootfs.diff_ids } }, /rootfs.type/],
    ['history not matching layers', man(), MediaType.OCI_MANIFEST, { ...cfg, history: [{ empty_layer: true }] }, /history has 0 non-empty entries/],
    ['no architecture', man(), MediaType.OCI_MANIFEST, { ...cfg, architecture: '' }, /no architecture/],
  ])('%s', (_name, m, mt, c, want) => {
    const p = manifestProblems(m, mt, c);
    if (want === null) expect(p).toEqual([]);
    else expect(p.join('; ')).toMatch(want);
  });
});

describe('Image values', () => {
  it('are immutable: append and withConfig return new images and leave the base alone', async () => {
    const base = imgs.busybox;
    const digest = base.digest;
    const layer = memoryLayer(await tarOf([{ name: 'x', content: 'x' }]));
    const child = base.append(layer, { created_by: 'RUN x' }).withConfig((c) => {
      c.config = { ...c.config, User: '1000' };
    });
    expect(base.digest).toBe(digest);
    expect(base.layers.length).toBe(1);
    expect(child.layers.length).toBe(2);
    expect(child.diffIds).toEqual([...base.diffIds, layer.diffId]);
    expect(child.config.history?.at(-1)).toEqual({ created_by: 'RUN x' });
    expect(child.config.config?.User).toBe('1000');
    expect(base.config.config?.User).toBeUndefined();
    expect(() => {
      (base.config as ImageConfig).os = 'windows';
    }).toThrow(TypeError);
    expect(() => validateImage(child)).not.toThrow();
  });

  it('compute manifest and config bytes once', () => {
    const img = Image.scratch({ os: 'linux', architecture: 'amd64' }).withConfig((c) => {
      c.config = { Cmd: ['true'] };
    });
    expect(img.manifestBytes).toBe(img.manifestBytes);
    expect(img.configBytes).toBe(img.configBytes);
    expect(img.manifest.config.digest).toBe(digestOf(img.configBytes));
    expect(img.descriptor).toMatchObject({ mediaType: MediaType.OCI_MANIFEST, digest: digestOf(img.manifestBytes), platform: { os: 'linux', architecture: 'amd64' } });
  });

  it('scratch plus appended layers stays valid with and without history text', async () => {
    const l1 = memoryLayer(await tarOf([{ name: 'a', content: 'a' }]));
    const l2 = memoryLayer(await tarOf([{ name: 'b', content: 'b' }]), 'none');
    const img = Image.scratch({ os: 'linux', architecture: 'arm64', variant: 'v8' }).append(l1).append(l2, { created_by: 'COPY b /' });
    expect(imageProblems(img)).toEqual([]);
    expect(img.config.history).toEqual([{}, { created_by: 'COPY b /' }]);
    expect(img.manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.OCI_LAYER_GZIP, MediaType.OCI_LAYER]);
    expect(img.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });

  it('withConfig keeps rootfs in step with the layers and appendEmptyHistory marks empty_layer', () => {
    const img = imgs.busybox.withConfig({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }).appendEmptyHistory({ created_by: 'ENV A=1' });
    expect(img.diffIds).toEqual(imgs.busybox.diffIds);
    expect(img.config.history).toEqual([{ created_by: 'ENV A=1', empty_layer: true }]);
  });
});
