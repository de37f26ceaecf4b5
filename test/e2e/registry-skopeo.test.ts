import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { slipway, type CliResult } from '../helpers/cli.js';
import { pushTestImage, testImages, type TestImages } from '../helpers/images.js';
import { requireTools } from '../setup/tools.js';

const registry = inject('registry');
const tools = requireTools('skopeo', 'umoci');
const exec = promisify(execFile);

let images: TestImages;
let work: string;

function run(args: string[]): Promise<CliResult> {
  return slipway(args, { env: { HOME: work, XDG_CACHE_HOME: join(work, '.cache'), XDG_CONFIG_HOME: join(work, '.config'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '' } });
}

function ok(r: CliResult): CliResult {
  expect(r.code, r.stderr).toBe(0);
  return r;
}

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await exec('skopeo', args, { timeout: 120_000, maxBuffer: 16 << 20 });
  return stdout;
}

beforeAll(async () => {
  images = await testImages();
  work = mkdtempSync(join(images.dir, '..', 'slipway-e2e-skopeo-'));
});

describe.skipIf(!registry || !tools.ok)('skopeo and umoci as oracles', () => {
  it('an image pushed by slipway is copied by skopeo and unpacked by umoci with every layer applied', async () => {
    ok(await run(['push', `oci:${images.dir}:multi`, `${registry}/oracle/multi:1`]));
    const dir = join(work, 'skopeo-layout');
    await skopeo('copy', '--src-tls-verify=false', `docker://${registry}/oracle/multi:1`, `oci:${dir}:multi`);
    const bundle = join(work, 'bundle');
    await exec('umoci', ['unpack', '--rootless', '--image', `${dir}:multi`, bundle], { timeout: 120_000 });
    const rootfs = join(bundle, 'rootfs');
    expect(existsSync(join(rootfs, 'bin', 'busybox'))).toBe(true);
    expect(readFileSync(join(rootfs, 'data', 'file1.txt'), 'utf8')).toBe('one\n');
    expect(existsSync(join(rootfs, 'data', 'file2.txt'))).toBe(false); // whiteout in layer 3
    expect(existsSync(join(rootfs, 'data', 'dir', 'nested.txt'))).toBe(false); // opaque dir
    expect(readFileSync(join(rootfs, 'etc', 'motd'), 'utf8')).toBe('layer three\n');

    const info = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${registry}/oracle/multi:1`)) as { Digest: string; Layers: string[] };
    const mine = JSON.parse(ok(await run(['inspect', `docker://${registry}/oracle/multi:1`])).stdout) as { digest: string; manifest: { layers: Array<{ digest: string }> } };
    expect(info.Digest).toBe(mine.digest);
    expect(info.Digest).toBe(images.multi.digest);
    expect(info.Layers).toEqual(mine.manifest.layers.map((l) => l.digest));
  });

  it('an image pushed by skopeo is pulled by slipway, per platform, with the digests skopeo reports', async () => {
    await pushTestImage(images.dir, registry, 'oracle/from-skopeo:1', 'multiarch');
    const raw = JSON.parse(await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry}/oracle/from-skopeo:1`)) as { manifests: Array<{ digest: string; platform: { architecture: string } }> };
    const root = join(work, 'root');
    for (const arch of ['amd64', 'arm64']) {
      const pulled = ok(await run(['pull', '-q', '--root', root, '--platform', `linux/${arch}`, `${registry}/oracle/from-skopeo:1`]));
      expect(pulled.stdout.trim()).toBe(raw.manifests.find((m) => m.platform.architecture === arch)?.digest);
    }
    const out = join(work, 'pulled-layout');
    ok(await run(['pull', '--root', root, '--platform', 'linux/arm64', '-o', `type=oci,dest=${out}`, `${registry}/oracle/from-skopeo:1`]));
    const fromLayout = JSON.parse(await skopeo('inspect', `oci:${out}`)) as { Digest: string; Architecture: string };
    expect(fromLayout).toMatchObject({ Digest: images.arm64.digest, Architecture: 'arm64' });
  });

  it('a Docker v2 schema 2 image pushed by skopeo is pulled and inspected by slipway', async () => {
    await skopeo('copy', '--quiet', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${images.dir}:busybox`, `docker://${registry}/oracle/v2s2:1`);
    const digest = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${registry}/oracle/v2s2:1`)).Digest as string;
    const root = join(work, 'root-v2s2');
    const pulled = ok(await run(['pull', '-q', '--root', root, `${registry}/oracle/v2s2:1`]));
    expect(pulled.stdout.trim()).toBe(digest);
    const info = JSON.parse(ok(await run(['inspect', '--root', root, `${registry}/oracle/v2s2:1`])).stdout) as { mediaType: string; manifest: { layers: Array<{ mediaType: string }> } };
    expect(info.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(info.manifest.layers[0]?.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
  });
});
