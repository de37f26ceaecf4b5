import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayoutStore, copy, storePaths } from '../../src/store/index.js';
import { BIN, slipway } from '../helpers/cli.js';
import { testImages, type TestImages } from '../helpers/images.js';
import { requireTools } from '../setup/tools.js';

const tools = requireTools('skopeo', 'umoci');
const root = mkdtempSync(join(tmpdir(), 'slipway-e2e-save-'));
const out = mkdtempSync(join(tmpdir(), 'slipway-e2e-save-out-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});
const run = (...args: string[]) => slipway([...args, '--root', root]);
const inspect = (ref: string) => JSON.parse(execFileSync('skopeo', ['inspect', ref], { encoding: 'utf8' })) as { Digest: string; Architecture: string; Layers: string[] };

let imgs: TestImages;
beforeAll(async () => {
  imgs = await testImages();
  const src = await LayoutStore.open(imgs.dir, { create: false });
  const local = await LayoutStore.open(storePaths(root).oci);
  await copy(src, 'multi', local, 'localhost:5000/app:1');
  await copy(src, 'multiarch', local, 'localhost:5000/multi:arch');
  await local.close();
});

describe.skipIf(!tools.ok)('slipway save --output', () => {
  it('type=oci,dest=DIR writes a layout umoci unpacks', async () => {
    const dir = join(out, 'layout');
    const r = await run('save', 'localhost:5000/app:1', '--output', `type=oci,dest=${dir}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Wrote localhost:5000/app:1 (${imgs.multi.digest}) to ${dir}`);
    expect(inspect(`oci:${dir}:1`).Digest).toBe(imgs.multi.digest);
    const bundle = join(out, 'bundle');
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${dir}:1`, bundle], { stdio: 'pipe' });
    expect(readFileSync(join(bundle, 'rootfs', 'data', 'dir', 'new.txt'), 'utf8')).toBe('new\n');
  });

  it('dest=FILE.tar writes an OCI archive', async () => {
    const file = join(out, 'app.tar');
    const r = await run('save', 'localhost:5000/app:1', '-o', `type=oci,dest=${file}`);
    expect(r.code, r.stderr).toBe(0);
    expect(inspect(`oci-archive:${file}:1`).Digest).toBe(imgs.multi.digest);
  });

  it('type=docker with --platform narrows an index to one image', async () => {
    const file = join(out, 'arm.tar');
    const r = await run('save', 'localhost:5000/multi:arch', '--platform', 'linux/arm64', '-o', `type=docker,dest=${file}`);
    expect(r.code, r.stderr).toBe(0);
    const info = inspect(`docker-archive:${file}:localhost:5000/multi:arch`);
    expect(info.Architecture).toBe('arm64');
  });

  it('dest=- streams an OCI archive to stdout', () => {
    const res = spawnSync(process.execPath, [BIN, 'save', 'localhost:5000/app:1', '-o', 'type=oci,dest=-', '--root', root], { maxBuffer: 64 << 20 });
    expect(res.status, res.stderr.toString()).toBe(0);
    const file = join(out, 'stdout.tar');
    writeFileSync(file, res.stdout);
    expect(inspect(`oci-archive:${file}`).Digest).toBe(imgs.multi.digest);
  });

  it.each([
    [['-o', 'type=local,dest=x'], 2, /cannot write --output type=local/],
    [['-o', 'type=zip,dest=x'], 2, /unknown type "zip"/],
    [[], 2, /--output is required/],
  ])('save %j fails with exit %i', async (args, code, msg) => {
    const r = await run('save', 'localhost:5000/app:1', ...args);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(msg);
  });
});
