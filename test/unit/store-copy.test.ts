import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigestMismatchError, isIndex, isManifest, type Descriptor, type ImageIndex, type ImageManifest } from '../../src/oci/index.js';
import { LayoutStore, copy, type CopyEvent, type ReadableStore, type Store } from '../../src/store/index.js';
import { testImages, type TestImages } from '../helpers/images.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-copy-test-'));
let n = 0;
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Call { op: 'push' | 'tag'; digest: string; mediaType: string; ref?: string }

/** A Store that records calls and the highest number of pushes in flight. */
class Recording implements Store {
  calls: Call[] = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(readonly inner: LayoutStore) {}
  get name() { return this.inner.name; }
  resolve(ref: string) { return this.inner.resolve(ref); }
  fetch(d: Descriptor) { return this.inner.fetch(d); }
  fetchBytes(d: Descriptor) { return this.inner.fetchBytes(d); }
  exists(d: Descriptor) { return this.inner.exists(d); }
  async push(d: Descriptor, body: Readable | Uint8Array) {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 5));
      await this.inner.push(d, body);
      this.calls.push({ op: 'push', digest: d.digest, mediaType: d.mediaType });
    } finally {
      this.inFlight--;
    }
  }
  async tag(d: Descriptor, ref: string) {
    await this.inner.tag(d, ref);
    this.calls.push({ op: 'tag', digest: d.digest, mediaType: d.mediaType, ref });
  }
}

let imgs: TestImages;
let src: LayoutStore;
beforeAll(async () => {
  imgs = await testImages();
  src = await LayoutStore.open(imgs.dir, { create: false });
});
const fresh = async () => new Recording(await LayoutStore.open(join(work, `dst-${++n}`)));

describe('copy', () => {
  it('copies an index: each digest once, children before parents, tag last', async () => {
    const dst = await fresh();
    const events: CopyEvent[] = [];
    const r = await copy(src, 'multiarch', dst, 'mirror:1', { onProgress: (e) => events.push(e), concurrency: 2 });
    const pushes = dst.calls.filter((c) => c.op === 'push').map((c) => c.digest);
    expect(new Set(pushes).size).toBe(pushes.length);
    // index + 2 manifests + 2 configs + 1 shared layer
    expect(pushes.length).toBe(6);
    expect(r).toMatchObject({ blobsCopied: 6, blobsSkipped: 0 });
    const pos = (d: string) => pushes.indexOf(d);
    const idx = JSON.parse((await src.fetchBytes(imgs.index.descriptor)).toString()) as ImageIndex;
    for (const m of idx.manifests) {
      const man = JSON.parse((await src.fetchBytes(m)).toString()) as ImageManifest;
      for (const l of man.layers) expect(pos(l.digest)).toBeLessThan(pos(man.config.digest));
      expect(pos(man.config.digest)).toBeLessThan(pos(m.digest));
      expect(pos(m.digest)).toBeLessThan(pos(imgs.index.descriptor.digest));
    }
    expect(dst.calls.at(-1)).toMatchObject({ op: 'tag', ref: 'mirror:1', digest: imgs.index.descriptor.digest });
    expect(dst.maxInFlight).toBeLessThanOrEqual(2);
    expect(events.filter((e) => e.type === 'blob-done').length).toBe(3); // 1 shared layer + 2 configs
    expect(events.filter((e) => e.type === 'manifest-done').length).toBe(3);
    expect(events.some((e) => e.type === 'blob-progress' && e.bytes === imgs.busybox.layers[0]?.descriptor.size)).toBe(true);
    expect((await dst.inner.resolve('mirror:1')).digest).toBe(imgs.index.descriptor.digest);
  });

  it('skips everything the destination already has', async () => {
    const dst = await fresh();
    await copy(src, 'multi', dst, 'a');
    dst.calls = [];
    const r = await copy(src, 'multi', dst, 'b');
    expect(dst.calls.filter((c) => c.op === 'push')).toEqual([]);
    expect(r.blobsCopied).toBe(0);
    expect(r.blobsSkipped).toBe(1); // the manifest is there, so nothing below it is looked at
    expect((await dst.inner.resolve('b')).digest).toBe(imgs.multi.digest);
  });

  it('copies shared layers once across images and skips them in a later copy', async () => {
    const dst = await fresh();
    await copy(src, 'busybox', dst, 'bb');
    dst.calls = [];
    await copy(src, 'multi', dst, 'multi');
    const pushed = dst.calls.filter((c) => c.op === 'push').map((c) => c.digest);
    expect(pushed).not.toContain(imgs.busybox.layers[0]?.descriptor.digest);
    expect(pushed.length).toBe(4); // 2 new layers, config, manifest
  });

  it.each([
    [{ os: 'linux', architecture: 'arm64' }, 'arm64'],
    [{ os: 'linux', architecture: 'amd64' }, 'amd64'],
  ] as const)('with platform %j copies only that manifest and tags it', async (platform, arch) => {
    const dst = await fresh();
    const r = await copy(src, 'multiarch', dst, 'one', { platform });
    const want = arch === 'arm64' ? imgs.arm64 : imgs.amd64;
    expect(r.descriptor.digest).toBe(want.digest);
    expect(isManifest(r.descriptor.mediaType)).toBe(true);
    const pushes = dst.calls.filter((c) => c.op === 'push');
    expect(pushes.map((c) => c.digest).sort()).toEqual([want.digest, want.id, want.layers[0]?.descriptor.digest].sort());
    expect(pushes.some((c) => isIndex(c.mediaType))).toBe(false);
  });

  it('fails with a platform error listing what the index has', async () => {
    const dst = await fresh();
    await expect(copy(src, 'multiarch', dst, 'x', { platform: { os: 'linux', architecture: 's390x' } }))
      .rejects.toThrow(/no image for linux\/s390x \(available: linux\/amd64, linux\/arm64\/v8\)/);
  });

  it('copies an image by descriptor without tagging', async () => {
    const dst = await fresh();
    const r = await copy(src, imgs.busybox.descriptor, dst, undefined);
    expect(dst.calls.some((c) => c.op === 'tag')).toBe(false);
    expect(await dst.exists(r.descriptor)).toBe(true);
  });

  it('hands blobs to a layout destination as verified streams (hashed once), and a corrupted source blob still never becomes visible', async () => {
    const dst = await LayoutStore.open(join(work, `dst-${++n}`));
    let verifiedPushes = 0;
    const pushVerified = dst.pushVerified.bind(dst);
    dst.pushVerified = (d, body) => {
      verifiedPushes++;
      return pushVerified(d, body);
    };
    await copy(src, imgs.busybox.descriptor, dst, undefined);
    expect(verifiedPushes).toBeGreaterThan(0);

    const brokenDir = join(work, `src-${++n}`);
    cpSync(imgs.dir, brokenDir, { recursive: true });
    const broken = await LayoutStore.open(brokenDir, { create: false });
    const manifest = JSON.parse((await broken.fetchBytes(imgs.busybox.descriptor)).toString()) as ImageManifest;
    const layer = manifest.layers[0] as Descriptor;
    const bytes = readFileSync(broken.blobPath(layer.digest));
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(broken.blobPath(layer.digest), bytes);
    const dst2 = await LayoutStore.open(join(work, `dst-${++n}`));
    await expect(copy(broken, imgs.busybox.descriptor, dst2, 'x')).rejects.toBeInstanceOf(DigestMismatchError);
    expect(existsSync(dst2.blobPath(layer.digest))).toBe(false);
  });

  it('into a local store the config is written while the layers are still coming (only the manifest waits for them)', async () => {
    const dst = await LayoutStore.open(join(work, `dst-${++n}`));
    const manifest = JSON.parse((await src.fetchBytes(imgs.busybox.descriptor)).toString()) as ImageManifest;
    let configStored!: () => void;
    const configWritten = new Promise<void>((r) => (configStored = r));
    const push = dst.push.bind(dst);
    dst.push = async (d, body) => {
      await push(d, body);
      if (d.digest === manifest.config.digest) configStored();
    };
    // layers are served only once the config is in: a copy that stored the config after the layers would stall here
    const gated: ReadableStore = {
      name: src.name,
      resolve: (r) => src.resolve(r),
      fetchBytes: (d) => src.fetchBytes(d),
      exists: (d) => src.exists(d),
      async fetch(d) {
        if (manifest.layers.some((l) => l.digest === d.digest)) {
          await Promise.race([configWritten, new Promise((_, reject) => setTimeout(() => reject(new Error('the config waited for the layers')), 5000))]);
        }
        return src.fetch(d);
      },
    };
    const r = await copy(gated, imgs.busybox.descriptor, dst, 'x');
    expect(r.descriptor.digest).toBe(imgs.busybox.descriptor.digest);
    for (const l of manifest.layers) expect(await dst.exists(l)).toBe(true);
  });

  it('a source writing into the destination\'s blob writer (a registry pull) reports each layer\'s full size as its last progress', async () => {
    const dst = await LayoutStore.open(join(work, `dst-${++n}`));
    const manifest = JSON.parse((await src.fetchBytes(imgs.busybox.descriptor)).toString()) as ImageManifest;
    const writing: ReadableStore = {
      name: src.name,
      resolve: (r) => src.resolve(r),
      fetchBytes: (d) => src.fetchBytes(d),
      exists: (d) => src.exists(d),
      fetch: (d) => src.fetch(d),
      async fetchTo(d, writer) {
        // small pieces: the size is never a multiple of the 1 MiB progress step
        const bytes = await src.fetchBytes(d);
        for (let i = 0; i < bytes.length; i += 1000) if (!writer.write(bytes.subarray(i, i + 1000))) await writer.drain();
      },
    };
    const events: CopyEvent[] = [];
    await copy(writing, imgs.busybox.descriptor, dst, 'x', { onProgress: (e) => events.push(e) });
    for (const l of manifest.layers) {
      const progress = events.filter((e): e is Extract<CopyEvent, { type: 'blob-progress' }> => e.type === 'blob-progress' && e.descriptor.digest === l.digest);
      expect(progress.at(-1)?.bytes).toBe(l.size);
    }
  });

  it('a layout refuses a verified stream that delivers a different number of bytes than the descriptor says', async () => {
    const dst = await LayoutStore.open(join(work, `dst-${++n}`));
    const data = Buffer.from('twelve bytes');
    const d: Descriptor = { mediaType: 'application/octet-stream', digest: `sha256:${'a'.repeat(64)}`, size: data.length + 1 };
    await expect(dst.pushVerified(d, Readable.from([data]))).rejects.toThrow(/size|bytes/i);
    expect(existsSync(dst.blobPath(d.digest))).toBe(false);
  });
});
