import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { startFaultProxy, times, type FaultProxy } from '../helpers/fault-proxy.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DigestMismatchError, MediaType, digestOf, parseReference, type Descriptor } from '../../src/oci/index.js';
import { LayoutStore } from '../../src/store/layout-store.js';
import { copy } from '../../src/store/copy.js';
import { RegistrySession, isRetriableRegistryError, type RegistryEvent } from '../../src/store/registry/index.js';

const registry = inject('registry');
const FAST = { attempts: 4, baseMs: 20, maxMs: 200 };

const isBlobGet = (digest: string) => (req: IncomingMessage) => req.method === 'GET' && (req.url ?? '').includes(`/blobs/${digest}`);
const isManifest = (req: IncomingMessage) => (req.url ?? '').includes('/manifests/');

interface Fixture {
  layer: Buffer;
  layerDesc: Descriptor;
  manifestDesc: Descriptor;
}

let proxy: FaultProxy;
let fx: Fixture;
let work: string;

function session(events: RegistryEvent[] = []): RegistrySession {
  return new RegistrySession({ retry: FAST, credentials: async () => undefined, onEvent: (e) => events.push(e) });
}

async function pushFixture(repoName: string): Promise<Fixture> {
  const s = session();
  const repo = s.repository(parseReference(`${registry}/${repoName}:v1`), 'push');
  const layer = randomBytes(3 << 20);
  const layerDesc = { mediaType: MediaType.OCI_LAYER_GZIP, digest: digestOf(layer), size: layer.length };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf('x')] } }));
  const configDesc = { mediaType: MediaType.OCI_CONFIG, digest: digestOf(config), size: config.length };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: configDesc, layers: [layerDesc] }));
  const manifestDesc = { mediaType: MediaType.OCI_MANIFEST, digest: digestOf(manifest), size: manifest.length };
  await repo.push(layerDesc, layer);
  await repo.push(configDesc, config);
  await repo.push(manifestDesc, manifest);
  await repo.tag(manifestDesc, 'v1');
  await s.close();
  return { layer, layerDesc, manifestDesc };
}

async function pullThroughProxy(events: RegistryEvent[], repoName = 'faults/img'): Promise<{ local: LayoutStore; dir: string }> {
  const dir = mkdtempSync(join(work, 'store-'));
  const local = await LayoutStore.open(dir);
  const s = session(events);
  try {
    await copy(s.repository(parseReference(`${proxy.host}/${repoName}:v1`), 'pull'), 'v1', local, 'img');
  } finally {
    await s.close();
  }
  return { local, dir };
}

beforeAll(async () => {
  if (!registry) return;
  work = mkdtempSync(join(tmpdir(), 'slipway-faults-'));
  fx = await pushFixture('faults/img');
  proxy = await startFaultProxy(registry);
});
afterAll(async () => {
  await proxy?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!registry)('registry faults (proxy in front of a real registry)', () => {
  it('resumes a blob download whose connection drops mid-blob', async () => {
    proxy.rule = times(1, isBlobGet(fx.layerDesc.digest), { kind: 'truncate', after: 1 << 20 });
    const events: RegistryEvent[] = [];
    const { local } = await pullThroughProxy(events);
    expect((await local.fetchBytes(fx.layerDesc)).equals(fx.layer)).toBe(true);
    const resumed = events.find((e) => e.type === 'blob-fetch' && e.resumedAt !== undefined);
    expect(resumed).toMatchObject({ digest: fx.layerDesc.digest });
    expect((resumed as { resumedAt: number }).resumedAt).toBeGreaterThan(0);
    expect(proxy.seen.filter((s) => s === `GET /v2/faults/img/blobs/${fx.layerDesc.digest}`).length).toBe(2);
    await local.close();
  });

  it('retries after 500 answers and succeeds', async () => {
    proxy.rule = times(2, isManifest, { kind: 'status', status: 500 });
    const events: RegistryEvent[] = [];
    const { local } = await pullThroughProxy(events);
    expect((await local.resolve('img')).digest).toBe(fx.manifestDesc.digest);
    expect(events.filter((e) => e.type === 'retry' && e.reason === 'HTTP 500')).toHaveLength(2);
    await local.close();
  });

  it('waits as long as Retry-After says on 429', async () => {
    proxy.rule = times(1, isBlobGet(fx.layerDesc.digest), { kind: 'status', status: 429, headers: { 'retry-after': '1' } });
    const events: RegistryEvent[] = [];
    const t0 = Date.now();
    const { local } = await pullThroughProxy(events);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ reason: 'HTTP 429', delayMs: 1000 });
    expect(await local.exists(fx.layerDesc)).toBe(true);
    await local.close();
  });

  it('discards a blob with the wrong digest, names registry and repository, stores nothing', async () => {
    proxy.rule = (req) => (isBlobGet(fx.layerDesc.digest)(req) ? { kind: 'corrupt' } : undefined);
    const dir = mkdtempSync(join(work, 'store-'));
    const local = await LayoutStore.open(dir);
    const s = session();
    const err = await copy(s.repository(parseReference(`${proxy.host}/faults/img:v1`), 'pull'), 'v1', local, 'img').catch((e: unknown) => e);
    await s.close();
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toContain(`${proxy.host}/faults/img`);
    expect((err as Error).message).toContain(fx.layerDesc.digest);
    expect(await local.exists(fx.layerDesc)).toBe(false);
    await expect(local.resolve('img')).rejects.toMatchObject({ code: 'REF_NOT_FOUND' });
    const tmpLeft = readdirSync(dir).includes('.slipway-tmp') ? readdirSync(join(dir, '.slipway-tmp')).filter((f) => !f.startsWith('lease')) : [];
    expect(tmpLeft).toEqual([]);
    await local.close();
  });

  it('gives up on a registry that keeps failing with an error naming registry, repository, operation and code', async () => {
    proxy.rule = (req) => (isBlobGet(fx.layerDesc.digest)(req) ? { kind: 'status', status: 503 } : undefined);
    proxy.seen = [];
    const s = session();
    const err = await s.repository(parseReference(`${proxy.host}/faults/img:v1`), 'pull').fetch(fx.layerDesc).catch((e: unknown) => e);
    await s.close();
    const operation = `fetching blob ${fx.layerDesc.digest}`;
    expect(err).toMatchObject({
      code: 'REGISTRY_HTTP_ERROR',
      registry: proxy.host,
      repository: 'faults/img',
      operation,
      status: 503,
      registryCode: 'UNAVAILABLE',
    });
    expect((err as Error).message).toBe(`${operation} at ${proxy.host}/faults/img: HTTP 503 UNAVAILABLE: injected fault`);
    expect(proxy.seen.filter((x) => x === `GET /v2/faults/img/blobs/${fx.layerDesc.digest}`)).toHaveLength(FAST.attempts);
  });

  it('uploads large blobs in chunks; a session the registry cannot resume is reported, and a second push completes', async () => {
    const { Readable } = await import('node:stream');
    const limits = { monolithicMax: 256 << 10, chunkSize: 256 << 10 };
    const blob = randomBytes((1 << 20) + 1234);
    const desc = { mediaType: MediaType.OCI_LAYER, digest: digestOf(blob), size: blob.length };
    const body = () => Readable.from([blob.subarray(0, 5000), blob.subarray(5000)]);
    const ref = parseReference(`${proxy.host}/faults/chunked:v1`);

    let patches = 0;
    proxy.rule = (req) => (req.method === 'PATCH' && ++patches === 2 ? { kind: 'drop-after-upstream' } : undefined);
    const s1 = new RegistrySession({ retry: FAST, credentials: async () => undefined, limits });
    const err = await s1.repository(ref, 'push').push(desc, body()).catch((e: unknown) => e);
    await s1.close();
    expect(err).toMatchObject({ code: 'REGISTRY_UPLOAD_INTERRUPTED', repository: 'faults/chunked' });
    expect(isRetriableRegistryError(err)).toBe(true);

    const events: RegistryEvent[] = [];
    patches = 0;
    proxy.rule = (req) => (req.method === 'PATCH' ? (patches++, undefined) : undefined);
    const s2 = new RegistrySession({ retry: FAST, credentials: async () => undefined, onEvent: (e) => events.push(e), limits });
    await s2.repository(ref, 'push').push(desc, body());
    await s2.close();
    expect(events.find((e) => e.type === 'blob-push')).toMatchObject({ how: 'chunked', digest: desc.digest });
    expect(patches).toBe(5);
    const check = session();
    const back = await check.repository(parseReference(`${registry}/faults/chunked:v1`), 'pull').fetchBytes(desc);
    await check.close();
    expect(back.equals(blob)).toBe(true);
  });

  it('restarts a monolithic upload whose session broke (the bytes are in memory)', async () => {
    const blob = randomBytes(100_000);
    const desc = { mediaType: MediaType.OCI_LAYER, digest: digestOf(blob), size: blob.length };
    // the registry completes the upload but the answer is lost: the retried PUT finds no session
    proxy.rule = times(1, (req) => req.method === 'PUT' && (req.url ?? '').includes('/blobs/uploads/'), { kind: 'drop-after-upstream' });
    proxy.seen = [];
    const s = session();
    await s.repository(parseReference(`${proxy.host}/faults/mono:v1`), 'push').push(desc, blob);
    await s.close();
    expect(proxy.seen.filter((x) => x.startsWith('POST /v2/faults/mono/blobs/uploads/')).length).toBeGreaterThanOrEqual(2);
    const check = session();
    expect(await check.repository(parseReference(`${registry}/faults/mono:v1`), 'pull').exists(desc)).toBe(true);
    await check.close();
  });

  it('pulls docker.io images through a configured mirror', async () => {
    await pushFixture('library/mirrored');
    proxy.rule = () => undefined;
    const s = new RegistrySession({ retry: FAST, credentials: async () => undefined, mirrors: { 'docker.io': [proxy.host] } });
    const repo = s.repository(parseReference('mirrored:v1'), 'pull');
    expect(repo.name).toBe('docker.io/library/mirrored');
    const desc = await repo.resolve('v1');
    await s.close();
    expect(desc.digest).toBe(fx.manifestDesc.digest === desc.digest ? fx.manifestDesc.digest : desc.digest);
    expect(proxy.seen).toContain('GET /v2/library/mirrored/manifests/v1');
  });

  it('falls back from a mirror that lacks the image to the registry itself', async () => {
    proxy.rule = (req) => ((req.url ?? '').includes('/manifests/') ? { kind: 'status', status: 404 } : undefined);
    proxy.seen = [];
    const s = new RegistrySession({ retry: FAST, credentials: async () => undefined, mirrors: { [registry]: [proxy.host] } });
    const desc = await s.repository(parseReference(`${registry}/faults/img:v1`), 'pull').resolve('v1');
    await s.close();
    expect(desc.digest).toBe(fx.manifestDesc.digest);
    expect(proxy.seen).toContain('GET /v2/faults/img/manifests/v1');
  });
});
