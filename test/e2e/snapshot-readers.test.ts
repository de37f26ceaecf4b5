import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LayerResult, UnpackCache, diffTrees } from '../../src/snapshot/index.js';
import { TEST_EPOCH, testImages } from '../helpers/images.js';
import { normalizedTree } from '../helpers/tree-compare.js';
import { isRoot, requireTools } from '../setup/tools.js';

/**
 * Round trip through real readers: a base image (busybox + a layer with a hard
 * link + whiteouts/opaque dir) is flattened, re-packed by slipway's writer into
 * a one-layer OCI layout, and skopeo, umoci and buildah must accept it and see
 * the same files.
 */
const tools = requireTools('skopeo', 'umoci', 'buildah');
// lowercase: buildah derives an image name from the layout path
const work = join(tmpdir(), `slipway-readers-${process.pid}-${Date.now()}`);
mkdirSync(work);
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let rootfs: string;
let layout: string;
let layer: LayerResult;

function writeBlob(dir: string, data: Buffer): string {
  const d = sha(data);
  writeFileSync(join(dir, 'blobs/sha256', d.slice(7)), data);
  return d;
}

beforeAll(async () => {
  const { multi } = await testImages();
  rootfs = join(work, 'rootfs');
  await new UnpackCache(join(work, 'layers')).materialize(multi.layers, rootfs);
  const empty = join(work, 'empty');
  mkdirSync(empty);
  layer = (await diffTrees(empty, rootfs, { timestamp: TEST_EPOCH, xattrs: false }))!;
  layout = join(work, 'layout');
  mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
  copyFileSync(layer.path, join(layout, 'blobs/sha256', layer.descriptor.digest.slice(7)));
  const config = Buffer.from(JSON.stringify({
    created: new Date(TEST_EPOCH * 1000).toISOString(), architecture: 'amd64', os: 'linux',
    config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: new Date(TEST_EPOCH * 1000).toISOString(), created_by: 'slipway snapshot test' }],
  }));
  const cfg = writeBlob(layout, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg, size: config.length },
    layers: [layer.descriptor],
  }));
  const man = writeBlob(layout, manifest);
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: man, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'rt' } }],
  }));
});

describe.runIf(tools.ok)('layers slipway writes, read by other tools', () => {
  it('slipway itself: unpacking the re-packed layer gives the same tree', async () => {
    const again = join(work, 'again');
    const gz = readFileSync(layer.path);
    await new UnpackCache(join(work, 'layers2')).materialize([{ descriptor: layer.descriptor, diffId: layer.diffId, open: async () => (await import('node:stream')).Readable.from([gz]) }], again);
    expect(normalizedTree(again)).toEqual(normalizedTree(rootfs));
    expect(normalizedTree(rootfs).some((l) => l.startsWith('data/hardlink '))).toBe(true);
  });

  it('skopeo inspect sees the layer digest and diffID', () => {
    const out = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layout}:rt`], { encoding: 'utf8' })) as { Layers: string[]; LayersData: { Digest: string }[] };
    expect(out.Layers).toEqual([layer.descriptor.digest]);
    const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${layout}:rt`], { encoding: 'utf8' })) as { rootfs: { diff_ids: string[] } };
    expect(cfg.rootfs.diff_ids).toEqual([layer.diffId]);
  });

  it('umoci unpack --rootless sees the same files', () => {
    const bundle = join(work, 'bundle');
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout}:rt`, bundle], { stdio: 'pipe' });
    const strip = (l: string): string => l.replace(/ \d+:\d+ /, ' ');
    expect(normalizedTree(join(bundle, 'rootfs')).map(strip)).toEqual(normalizedTree(rootfs).map(strip));
  });

  it.runIf(isRoot)('buildah from oci: sees the same files', () => {
    const st = ['--root', join(work, 'bs-root'), '--runroot', join(work, 'bs-run'), '--storage-driver', 'vfs'];
    const ctr = execFileSync('buildah', [...st, 'from', '--pull-never', '--quiet', '--name', `slipway-rt-${process.pid}`, `oci:${layout}:rt`], { encoding: 'utf8' }).trim();
    try {
      const mnt = execFileSync('buildah', [...st, 'mount', ctr], { encoding: 'utf8' }).trim();
      expect(normalizedTree(mnt)).toEqual(normalizedTree(rootfs));
    } finally {
      execFileSync('buildah', [...st, 'rm', ctr], { stdio: 'ignore' });
      execFileSync('sh', ['-c', `buildah ${st.join(' ')} rmi -a -f >/dev/null 2>&1; rm -rf ${join(work, 'bs-root')} ${join(work, 'bs-run')} || true`]);
    }
  });
});
