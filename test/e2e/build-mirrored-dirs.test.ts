import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { testImageLayout } from '../helpers/images.js';
import { layerNames, makeContext, readLayout } from '../helpers/build-fixture.js';

/**
 * runStep mirrors /etc from the lower layers into the writable layer to put the
 * mount-point files /etc/hosts, /etc/resolv.conf, /etc/hostname there. That
 * mirrored dir is runStep's own doing: unless the step changed it, it is no
 * part of the layer (docker build lists only the changed file and the parents
 * that really changed).
 */
let layout: string;
let root: string;

beforeAll(async () => {
  layout = await testImageLayout();
  root = mkdtempSync(join(tmpdir(), 'slipway-mirrored-root-'));
});

/**
 * A store root whose remembered storage-driver probe (src/build/mode.ts) says
 * vfs: builds have no --storage-driver flag. The key is the CLI's: kernel,
 * uid 0 (root, or root of the user namespace it enters), whether in one.
 */
function vfsRoot(): string {
  const r = mkdtempSync(join(tmpdir(), 'slipway-mirrored-vfs-'));
  mkdirSync(join(r, 'tmp'));
  const key = `${release()}|0|${process.getuid?.() !== 0}`;
  writeFileSync(join(r, 'tmp', 'storage-driver.json'), JSON.stringify({ key, at: Date.now(), driver: 'vfs', reason: 'test' }));
  return r;
}

async function lastLayerNames(dockerfile: string, isolation: string, storeRoot = root): Promise<{ names: string[]; out: string }> {
  const ctx = makeContext({ Dockerfile: dockerfile });
  const out = mkdtempSync(join(tmpdir(), 'slipway-mirrored-out-'));
  const r = await slipway(['build', '--root', storeRoot, '--progress', 'plain', '--isolation', isolation, '--output', `type=oci,dest=${out}/img`, ctx]);
  expect(r.code, r.stderr).toBe(0);
  if (storeRoot !== root) expect(r.stdout + r.stderr).toMatch(/storage-driver=vfs/);
  const img = await readLayout(join(out, 'img'));
  return { names: await layerNames(img.image.layers.at(-1)!), out: join(out, 'img') };
}


describe('RUN: dirs runStep mirrored for its mount points stay out of the layer', () => {
  it.each(['oci', 'chroot'])('RUN touch /x (%s): the layer holds only x', async (isolation) => {
    const { names } = await lastLayerNames(`FROM oci:${layout}:busybox\nRUN touch /x\n`, isolation);
    expect(names).toEqual(['x']);
  });

  it('vfs storage: RUN touch /x holds only x; RUN writing into /etc keeps etc/ and etc/foo', async () => {
    const vfs = vfsRoot();
    expect((await lastLayerNames(`FROM oci:${layout}:busybox\nRUN touch /x\n`, 'chroot', vfs)).names).toEqual(['x']);
    const { names } = await lastLayerNames(`FROM oci:${layout}:busybox\nRUN echo x > /etc/foo\n`, 'chroot', vfs);
    expect(names).toContain('etc/');
    expect(names).toContain('etc/foo');
    for (const n of ['etc/hosts', 'etc/resolv.conf', 'etc/hostname']) expect(names).not.toContain(n);
  });

  it('vfs storage: an edit that keeps size and mtime (touch -r) is still in the layer', async () => {
    const vfs = vfsRoot();
    const { names, out } = await lastLayerNames(
      `FROM oci:${layout}:busybox\nRUN cp -p /etc/passwd /tmp/p && sed s/root/ROOT/ /tmp/p > /etc/passwd && touch -r /tmp/p /etc/passwd && rm /tmp/p\n`,
      'chroot',
      vfs,
    );
    expect(names).toContain('etc/passwd');
    expect((await readLayout(out)).file('etc/passwd')).toMatch(/^ROOT:/);
  });

  it('RUN writing into /etc keeps etc/ and etc/foo (but not the generated files)', async () => {
    const { names, out } = await lastLayerNames(`FROM oci:${layout}:busybox\nRUN echo x > /etc/foo\n`, 'chroot');
    expect(names).toContain('etc/');
    expect(names).toContain('etc/foo');
    for (const n of ['etc/hosts', 'etc/resolv.conf', 'etc/hostname']) expect(names).not.toContain(n);
    const img = await readLayout(out);
    expect(img.file('etc/foo')).toBe('x\n');
    expect(img.stat('etc/passwd')).toMatchObject({ type: 'file' });
  });

  it('RUN rm of a file in /etc keeps etc/ and its whiteout', async () => {
    const { names, out } = await lastLayerNames(`FROM oci:${layout}:busybox\nRUN rm /etc/group\n`, 'chroot');
    expect(names).toEqual(['etc/', 'etc/.wh.group']);
    expect((await readLayout(out)).stat('etc/group')).toBeUndefined();
  });

  it('RUN chmod on /etc keeps etc/ with its new mode', async () => {
    const { names, out } = await lastLayerNames(`FROM oci:${layout}:busybox\nRUN chmod 0700 /etc\n`, 'chroot');
    expect(names).toEqual(['etc/']);
    expect((await readLayout(out)).stat('etc')).toMatchObject({ type: 'dir', mode: 0o700 });
  });
});
