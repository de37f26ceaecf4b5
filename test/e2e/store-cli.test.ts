import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { shortId } from '../../src/oci/index.js';
import { LayoutStore, copy, storePaths } from '../../src/store/index.js';
import { slipway } from '../helpers/cli.js';
import { pushTestImage, testImages, type TestImages } from '../helpers/images.js';

const root = mkdtempSync(join(tmpdir(), 'slipway-e2e-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const run = (...args: string[]) => slipway([...args, '--root', root]);

let imgs: TestImages;
beforeAll(async () => {
  imgs = await testImages();
  const src = await LayoutStore.open(imgs.dir, { create: false });
  const local = await LayoutStore.open(storePaths(root).oci);
  await copy(src, 'busybox', local, 'docker.io/library/busybox:latest');
  await copy(src, 'multi', local, '127.0.0.1:5000/app:1');
  await copy(src, 'multiarch', local, 'example.com/multi:arch');
  await local.close();
});

describe('slipway images / tag / rmi', () => {
  it('images lists every name with digest, age and size', async () => {
    const r = await run('images');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+CREATED\s+SIZE$/);
    const bb = lines.find((l) => l.startsWith('busybox '));
    expect(bb).toMatch(new RegExp(`^busybox\\s+latest\\s+${shortId(imgs.busybox.digest)}\\s+\\d+ years? ago\\s+\\d+(\\.\\d+)?[kM]B$`));
    expect(lines.some((l) => /^127\.0\.0\.1:5000\/app\s+1\s/.test(l))).toBe(true);
  });

  it('images --format json gives sizes that count shared blobs once', async () => {
    const r = await run('images', '--format', 'json');
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { ref: string; digest: string; size: number; platforms: string[]; created: string }[];
    const by = (ref: string) => list.find((i) => i.ref === ref);
    const bbSize = imgs.busybox.manifestBytes.length + imgs.busybox.configBytes.length + (imgs.busybox.layers[0]?.descriptor.size ?? 0);
    expect(by('docker.io/library/busybox:latest')).toMatchObject({ digest: imgs.busybox.digest, size: bbSize, created: '2024-01-01T00:00:00.000Z' });
    expect(by('example.com/multi:arch')?.platforms).toEqual(['linux/amd64', 'linux/arm64/v8']);
  });

  it('tag adds a normalized name for the same image; rmi of a name keeps shared blobs', async () => {
    const t = await run('tag', 'busybox', 'localhost:5000/tools/bb:2');
    expect(t.code, t.stderr).toBe(0);
    const q = await run('images', '-q');
    expect(q.stdout.split('\n')).toContain('localhost:5000/tools/bb:2');
    const before = readdirSync(join(storePaths(root).oci, 'blobs', 'sha256')).length;
    const r = await run('rmi', 'localhost:5000/tools/bb:2');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Untagged: localhost:5000/tools/bb:2\n');
    expect(readdirSync(join(storePaths(root).oci, 'blobs', 'sha256')).length).toBe(before);
  });

  it('rmi deletes the blobs only that image used', async () => {
    await run('tag', '127.0.0.1:5000/app:1', 'spare:1');
    const r = await run('rmi', '127.0.0.1:5000/app:1', 'spare:1');
    expect(r.code).toBe(0);
    // two own layers, config, manifest; the busybox layer stays for the other images
    expect(r.stdout).toMatch(/Untagged: 127\.0\.0\.1:5000\/app:1\nUntagged: docker\.io\/library\/spare:1\nDeleted: 4 blobs, /);
    const img = await run('images', '-q');
    expect(img.stdout).not.toContain('app:1');
  });

  it('rmi by digest prefix removes every name of the image', async () => {
    await run('tag', 'busybox', 'bb-copy:1');
    const r = await run('rmi', shortId(imgs.busybox.digest));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Untagged: docker.io/library/busybox:latest');
    expect(r.stdout).toContain('Untagged: docker.io/library/bb-copy:1');
  });

  it.each([
    [['rmi', 'no-such:1'], 1, /no image named "no-such:1"/],
    [['tag', 'no-such:1', 'x:1'], 1, /no image named "no-such:1"/],
    [['tag', 'example.com/multi:arch', 'x@sha256:' + 'a'.repeat(64)], 2, /has a digest/],
    [['images', '--format', 'yaml'], 2, /unknown --format "yaml"/],
  ])('%j fails with exit %i and a one-line error', async (args, code, msg) => {
    const r = await run(...args);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('images pulled from a registry', () => {
  const registry = inject('registry');
  const authRegistry = inject('authRegistry');
  it.skipIf(authRegistry === '')('pushTestImage reaches the TLS + auth registry', async () => {
    const creds = `${inject('authUser')}:${inject('authPassword')}`;
    await pushTestImage(imgs.dir, authRegistry, 'store-e2e/multi:2', 'multiarch', { creds, caFile: inject('authRegistryCa') });
    const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', '--creds', creds, `docker://${authRegistry}/store-e2e/multi:2`], { encoding: 'utf8' });
    expect(JSON.parse(raw)).toMatchObject({ mediaType: 'application/vnd.oci.image.index.v1+json' });
  });

  it.skipIf(registry === '')('an image pushed by skopeo and pulled by slipway shows up in images', async () => {
    await pushTestImage(imgs.dir, registry, 'store-e2e/bb:1');
    const p = await run('pull', `${registry}/store-e2e/bb:1`);
    expect(p.code, p.stderr).toBe(0);
    const r = await run('images', '--format', 'json');
    const list = JSON.parse(r.stdout) as { ref: string; digest: string }[];
    expect(list.find((i) => i.ref === `${registry}/store-e2e/bb:1`)?.digest).toBe(imgs.busybox.digest);
  });
});
