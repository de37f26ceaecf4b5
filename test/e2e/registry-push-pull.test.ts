import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { privateHomeEnv, slipway, type CliResult } from '../helpers/cli.js';
import { testImages, type TestImages } from '../helpers/images.js';
import type { ImageIndex, ImageManifest } from '../../src/oci/index.js';

const registry = inject('registry');

let images: TestImages;
let home: string;
let layoutBlobs: (tag: string) => Set<string>;

/** Runs slipway with a private HOME (no real credentials, own mount-hint cache). */
function run(args: string[], extraEnv: Record<string, string> = {}): Promise<CliResult> {
  return slipway(args, { env: privateHomeEnv(home, extraEnv) });
}

function ok(r: CliResult): CliResult {
  expect(r.stderr.split('\n').filter((l) => l.startsWith('Error')), r.stderr).toEqual([]);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** digest -> how it was pushed, from --debug lines "blob sha256:... (N bytes) monolithic|chunked|mounted|exists" */
function blobPushes(stderr: string): Array<{ digest: string; how: string; from?: string }> {
  return [...stderr.matchAll(/blob (sha256:[a-f0-9]{64}) \(\d+ bytes\) (monolithic|chunked|mounted|exists)(?: from (\S+))?/g)]
    .map((m) => ({ digest: m[1] as string, how: m[2] as string, ...(m[3] ? { from: m[3] } : {}) }));
}

beforeAll(async () => {
  images = await testImages();
  home = mkdtempSync(join(images.dir, '..', 'slipway-e2e-home-'));
  layoutBlobs = (tag: string) => {
    const idx = JSON.parse(readFileSync(join(images.dir, 'index.json'), 'utf8')) as ImageIndex;
    const root = idx.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
    const out = new Set<string>();
    const walk = (digest: string) => {
      const obj = JSON.parse(readFileSync(join(images.dir, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as Partial<ImageManifest & ImageIndex>;
      for (const m of obj.manifests ?? []) walk(m.digest);
      if (obj.config) out.add(obj.config.digest);
      for (const l of obj.layers ?? []) out.add(l.digest);
    };
    walk(root!.digest);
    return out;
  };
});

describe.skipIf(!registry)('slipway push / pull / inspect against a plain registry', () => {
  it('pushes a multi-layer image uploading each blob once, then pulls it into a fresh store', async () => {
    const r = ok(await run(['push', '--debug', `oci:${images.dir}:multi`, `${registry}/e2e/multi:1.0`]));
    const pushes = blobPushes(r.stderr);
    const want = layoutBlobs('multi');
    expect(new Set(pushes.map((p) => p.digest))).toEqual(want);
    expect(pushes).toHaveLength(want.size);
    expect(pushes.every((p) => p.how === 'monolithic')).toBe(true);
    const digest = /@(sha256:[a-f0-9]{64})/.exec(r.stdout)?.[1];
    expect(digest).toBe(images.multi.digest);

    const root = mkdtempSync(join(home, 'root-'));
    const p = ok(await run(['pull', '--root', root, `${registry}/e2e/multi:1.0`]));
    expect(p.stdout).toContain(`Pulled ${registry}/e2e/multi:1.0 (${images.multi.digest}`);
    const i = ok(await run(['inspect', '--root', root, `${registry}/e2e/multi:1.0`]));
    const info = JSON.parse(i.stdout) as { digest: string; manifest: ImageManifest; config: { config: { WorkingDir: string } } };
    expect(info.digest).toBe(images.multi.digest);
    expect(info.manifest.layers).toHaveLength(3);
    expect(info.config.config.WorkingDir).toBe('/data');
  });

  it('uploads a blob shared by two platforms once and pulls one platform with --platform', async () => {
    const r = ok(await run(['push', '--debug', `oci:${images.dir}:multiarch`, `${registry}/e2e/multiarch:1`]));
    const pushes = blobPushes(r.stderr);
    const layer = images.amd64.manifest.layers[0]!.digest;
    expect(images.arm64.manifest.layers[0]!.digest).toBe(layer);
    expect(pushes.filter((p) => p.digest === layer)).toHaveLength(1);
    expect(new Set(pushes.map((p) => p.digest))).toEqual(layoutBlobs('multiarch'));

    const root = mkdtempSync(join(home, 'root-'));
    const p = ok(await run(['pull', '-q', '--root', root, '--platform', 'linux/arm64', `${registry}/e2e/multiarch:1`]));
    expect(p.stdout.trim()).toBe(images.arm64.digest);
    const i = ok(await run(['inspect', '--root', root, `${registry}/e2e/multiarch:1`]));
    expect(JSON.parse(i.stdout)).toMatchObject({ digest: images.arm64.digest, config: { architecture: 'arm64' } });
    // the registry still has the index; inspect shows it, and --platform picks from it
    const raw = ok(await run(['inspect', '--raw', `docker://${registry}/e2e/multiarch:1`]));
    expect((JSON.parse(raw.stdout) as ImageIndex).manifests).toHaveLength(2);
    const amd = ok(await run(['inspect', '--platform', 'linux/amd64', `docker://${registry}/e2e/multiarch:1`]));
    expect(JSON.parse(amd.stdout)).toMatchObject({ digest: images.amd64.digest, config: { architecture: 'amd64' } });
  });

  it('mounts blobs from the first repository when pushing the same image to a second one', async () => {
    ok(await run(['push', `oci:${images.dir}:busybox`, `${registry}/e2e/mount-src:1`]));
    const r = ok(await run(['push', '--debug', `oci:${images.dir}:busybox`, `${registry}/e2e/mount-dst:1`]));
    const pushes = blobPushes(r.stderr);
    expect(pushes.length).toBe(layoutBlobs('busybox').size);
    expect(pushes.every((p) => p.how === 'mounted' && p.from === 'e2e/mount-src'), r.stderr).toBe(true);
    expect(r.stderr).not.toMatch(/PUT \/v2\/e2e\/mount-dst\/blobs\/uploads/);
    // and the result is a complete image
    const i = ok(await run(['inspect', `docker://${registry}/e2e/mount-dst:1`]));
    expect(JSON.parse(i.stdout).digest).toBe(images.busybox.digest);
  });

  it('copies registry to registry with docker:// SRC, mounting every blob within one registry', async () => {
    ok(await run(['push', `oci:${images.dir}:multi`, `${registry}/e2e/r2r-src:1`]));
    const r = ok(await run(['push', '--debug', `docker://${registry}/e2e/r2r-src:1`, `${registry}/e2e/r2r-dst:1`]));
    const pushes = blobPushes(r.stderr);
    expect(new Set(pushes.map((p) => p.digest))).toEqual(layoutBlobs('multi'));
    expect(pushes.every((p) => p.how === 'mounted' && p.from === 'e2e/r2r-src'), r.stderr).toBe(true);
    expect(r.stdout).toContain(`@${images.multi.digest}`);
  });

  it('pushes an image from the local store and a second push finds every blob present', async () => {
    const root = mkdtempSync(join(home, 'root-'));
    ok(await run(['pull', '--root', root, `${registry}/e2e/multi:1.0`]));
    const first = ok(await run(['push', '--debug', '--root', root, `${registry}/e2e/multi:1.0`, `${registry}/e2e/copy:latest`]));
    expect(first.stdout).toContain(`Pushed ${registry}/e2e/copy:latest@${images.multi.digest}`);
    const again = ok(await run(['push', '--debug', '--root', root, `${registry}/e2e/multi:1.0`, `${registry}/e2e/copy:again`]));
    expect(blobPushes(again.stderr).filter((p) => p.how !== 'exists')).toEqual([]);
  });

  it('writes the pulled image to --output type=oci,dest=DIR', async () => {
    const root = mkdtempSync(join(home, 'root-'));
    const out = join(root, 'out-layout');
    ok(await run(['pull', '--root', root, '-o', `type=oci,dest=${out}`, `${registry}/e2e/multi:1.0`]));
    expect(existsSync(join(out, 'oci-layout'))).toBe(true);
    const i = ok(await run(['inspect', `oci:${out}`]));
    expect(JSON.parse(i.stdout).digest).toBe(images.multi.digest);
  });

  it('pulls docker.io images through a mirror from the registries file, and finds them by short name', async () => {
    ok(await run(['push', `oci:${images.dir}:busybox`, `${registry}/library/mirrortest:1`]));
    const config = join(home, 'registries.json');
    writeFileSync(config, JSON.stringify({ mirrors: { 'docker.io': [registry] } }));
    const root = mkdtempSync(join(home, 'root-'));
    const p = ok(await run(['pull', '--root', root, 'mirrortest:1'], { SLIPWAY_REGISTRIES_CONFIG: config }));
    expect(p.stdout).toContain(`Pulled docker.io/library/mirrortest:1 (${images.busybox.digest}`);
    const i = ok(await run(['inspect', '--root', root, 'mirrortest:1']));
    expect(JSON.parse(i.stdout)).toMatchObject({ name: 'docker.io/library/mirrortest:1', digest: images.busybox.digest });
    writeFileSync(join(home, 'broken.json'), '{"mirrors": "x"}');
    const broken = await run(['pull', '--root', root, 'mirrortest:1'], { SLIPWAY_REGISTRIES_CONFIG: join(home, 'broken.json') });
    expect(broken.code).not.toBe(0);
    expect(broken.stderr).toMatch(/^Error: registry configuration .*broken\.json: "mirrors" must map a registry to a list of hosts/);
  });

  it('fails with a one-line error naming registry, repository and operation for a missing tag', async () => {
    const root = mkdtempSync(join(home, 'root-'));
    const r = await run(['pull', '--root', root, `${registry}/e2e/multi:nope`]);
    expect(r.code).not.toBe(0);
    const first = r.stderr.split('\n')[0];
    expect(first).toBe(`Error: resolving manifest nope at ${registry}/e2e/multi: HTTP 404 MANIFEST_UNKNOWN: manifest unknown (not found)`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects a store name that is not in the local store', async () => {
    const root = mkdtempSync(join(home, 'root-'));
    ok(await run(['pull', '--root', root, `${registry}/e2e/multi:1.0`]));
    const r = await run(['push', '--root', root, 'not-there:1', `${registry}/e2e/x:1`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^Error: local store: no image named "not-there:1"/);
  });

  it.each(['pull', 'push', 'inspect', 'login', 'logout'])('%s --help exits 0 with usage', async (cmd) => {
    const r = ok(await run([cmd, '--help']));
    expect(r.stdout).toContain(`Usage: slipway ${cmd}`);
  });
});
