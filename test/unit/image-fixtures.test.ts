import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, existsSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTools } from '../setup/tools.js';
import { testImages } from '../helpers/images.js';

const tools = requireTools('umoci', 'skopeo');
const work = mkdtempSync(join(tmpdir(), 'slipway-umoci-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('test base images', () => {
  it('are memoized per process', async () => {
    expect(await testImages()).toBe(await testImages());
  });

  it.skipIf(!tools.ok).each([['busybox'], ['multi']])('%s unpacks with umoci into the expected tree', async (tag) => {
    const { dir } = await testImages();
    const out = join(work, tag);
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${dir}:${tag}`, join(out, 'bundle')], { stdio: 'pipe' });
    const rootfs = join(out, 'bundle', 'rootfs');
    expect(statSync(join(rootfs, 'bin/busybox')).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(rootfs, 'bin/sh'))).toBe('/bin/busybox');
    expect(readFileSync(join(rootfs, 'etc/passwd'), 'utf8')).toContain('user:x:1000:1000');
    if (tag === 'multi') {
      expect(existsSync(join(rootfs, 'data/file2.txt'))).toBe(false);
      expect(existsSync(join(rootfs, 'data/dir/nested.txt'))).toBe(false);
      expect(readFileSync(join(rootfs, 'data/dir/new.txt'), 'utf8')).toBe('new\n');
      expect(statSync(join(rootfs, 'data/hardlink')).ino).toBe(statSync(join(rootfs, 'data/file1.txt')).ino);
      expect(readFileSync(join(rootfs, 'etc/motd'), 'utf8')).toBe('layer three\n');
    }
  });

  it.skipIf(!tools.ok)('the multiarch index lists amd64 and arm64 for skopeo', async () => {
    const { dir } = await testImages();
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${dir}:multiarch`], { encoding: 'utf8' })) as { manifests: { platform: { architecture: string } }[] };
    expect(raw.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    const arm = JSON.parse(execFileSync('skopeo', ['inspect', '--override-arch', 'arm64', `oci:${dir}:multiarch`], { encoding: 'utf8' })) as { Architecture: string; Layers: string[] };
    expect(arm.Architecture).toBe('arm64');
    expect(arm.Layers.length).toBe(1);
  });
});
