import { existsSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { privateHomeEnv, slipway, type CliResult } from '../helpers/cli.js';
import { startFaultProxy, times, type FaultProxy } from '../helpers/fault-proxy.js';
import { testImages, type TestImages } from '../helpers/images.js';

const registry = inject('registry');

let images: TestImages;
let proxy: FaultProxy;
let home: string;

function run(args: string[]): Promise<CliResult> {
  return slipway(args, { env: privateHomeEnv(home) });
}

const layerOf = () => images.multi.manifest.layers[0]!.digest;
const blobGet = (digest: string) => (req: { method?: string; url?: string }) => req.method === 'GET' && (req.url ?? '').includes(`/blobs/${digest}`);

beforeAll(async () => {
  if (!registry) return;
  images = await testImages();
  home = mkdtempSync(join(images.dir, '..', 'slipway-e2e-faults-'));
  proxy = await startFaultProxy(registry);
  const r = await run(['push', `oci:${images.dir}:multi`, `${registry}/faults/cli:1`]);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => proxy?.close());

describe.skipIf(!registry)('slipway pull/push through a faulty connection', () => {
  it('pull survives a dropped connection mid-blob and 500 answers', async () => {
    const drop = times(1, blobGet(layerOf()), { kind: 'truncate', after: 100_000 });
    const fail = times(2, (req) => (req.url ?? '').includes('/manifests/'), { kind: 'status', status: 500 });
    proxy.rule = (req) => drop(req) ?? fail(req);
    const root = mkdtempSync(join(home, 'root-'));
    const r = await run(['pull', '-q', '--debug', '--root', root, `${proxy.host}/faults/cli:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n').pop()).toBe(images.multi.digest);
    expect(r.stderr).toContain('resumed at 100000');
    expect(r.stderr).toMatch(/retry 1 in \d+ ms \(HTTP 500\)/);
  });

  it('pull of a corrupted blob fails with one line naming the registry and repository, and stores nothing', async () => {
    proxy.rule = (req) => (blobGet(layerOf())(req) ? { kind: 'corrupt' } : undefined);
    const root = mkdtempSync(join(home, 'root-'));
    const r = await run(['pull', '--root', root, `${proxy.host}/faults/cli:1`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^Error: digest mismatch for blob ${layerOf()} from ${proxy.host}/faults/cli: expected ${layerOf()}, got sha256:[a-f0-9]{64}$`));
    expect(existsSync(join(root, 'oci', 'blobs', 'sha256', layerOf().slice(7)))).toBe(false);
  });

  it('push retries a 503 and a 429 with Retry-After and completes', async () => {
    const unavailable = times(1, (req) => req.method === 'POST', { kind: 'status', status: 503 });
    const limited = times(1, (req) => req.method === 'PUT' && (req.url ?? '').includes('/blobs/uploads/'), { kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    proxy.rule = (req) => unavailable(req) ?? limited(req);
    const r = await run(['push', '--debug', `oci:${images.dir}:busybox`, `${proxy.host}/faults/pushed:1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/retry 1 in \d+ ms \(HTTP 503\)/);
    expect(r.stderr).toContain('retry 1 in 1000 ms (HTTP 429)');
    const i = await run(['inspect', `docker://${registry}/faults/pushed:1`]);
    expect(JSON.parse(i.stdout).digest).toBe(images.busybox.digest);
  });
});
