import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, digestOf, parseReference } from '../../src/oci/index.js';
import { RegistryClient, RegistrySession, RegistryUnauthorizedError, type RegistryCredentials } from '../../src/store/registry/index.js';

const USER = 'alice';
const PASSWORD = 'token-test-pw';
const FAST = { attempts: 3, baseMs: 10, maxMs: 50 };

interface World {
  registryHost: string;
  tokenHost: string;
  /** scope lists the token server was asked for, one entry per token request */
  tokenRequests: string[][];
  /** token -> scopes it grants */
  tokens: Map<string, string[]>;
  /** "METHOD path token" for every registry request */
  registryLog: string[];
  /** reject the next N valid tokens once (as if revoked) */
  revokeNext: number;
  manifests: Map<string, Buffer>;
  storageHost: string;
  storageLog: string[];
  blobs: Map<string, Buffer>;
  close(): Promise<void>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve(`127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
  }));
}

/** A token server (basic auth in, bearer tokens with scopes out) and a registry that demands those tokens. */
async function startWorld(): Promise<World> {
  const w: World = { registryHost: '', tokenHost: '', tokenRequests: [], tokens: new Map(), registryLog: [], revokeNext: 0, manifests: new Map(), storageHost: '', storageLog: [], blobs: new Map(), close: async () => {} };
  const tokenServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.headers.authorization !== `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    w.tokenRequests.push(scopes);
    const token = `tok-${w.tokenRequests.length}`;
    w.tokens.set(token, scopes);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, expires_in: 300 }));
  });
  w.tokenHost = await listen(tokenServer);
  const challenge = (scope?: string) =>
    `Bearer realm="http://${w.tokenHost}/token",service="fake-registry"${scope ? `,scope="${scope}"` : ''}`;
  const registry = createServer((req: IncomingMessage, res: ServerResponse) => {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    w.registryLog.push(`${req.method} ${req.url} ${token || '-'}`);
    if (req.url === '/v2/') {
      res.writeHead(401, { 'www-authenticate': challenge() });
      res.end();
      return;
    }
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '');
    if (blob && w.tokens.get(token)?.some((sc) => sc === `repository:${blob[1]}:pull`)) {
      // like registries on S3/GCS: redirect to storage with a signed URL
      res.writeHead(307, { location: `http://${w.storageHost}/store/${blob[2]}?signature=abc` });
      res.end();
      return;
    }
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404);
      res.end();
      return;
    }
    const [, repo, ref] = m as unknown as [string, string, string];
    const needed = req.method === 'PUT' ? 'push' : 'pull';
    const granted = w.tokens.get(token) ?? [];
    const ok = granted.some((s) => {
      const [kind, name, actions] = s.split(':');
      return kind === 'repository' && name === repo && (actions ?? '').split(',').includes(needed);
    });
    if (!ok || (w.revokeNext > 0 && w.revokeNext--)) {
      res.writeHead(401, { 'www-authenticate': challenge(`repository:${repo}:${needed === 'push' ? 'pull,push' : 'pull'}`), 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    if (req.method === 'PUT') {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        w.manifests.set(`${repo}:${ref}`, body);
        res.writeHead(201, { 'docker-content-digest': digestOf(body) });
        res.end();
      });
      return;
    }
    const body = w.manifests.get(`${repo}:${ref}`);
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
      return;
    }
    res.writeHead(200, { 'content-type': MediaType.OCI_MANIFEST, 'docker-content-digest': digestOf(body), 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  w.registryHost = await listen(registry);
  const storage = createServer((req: IncomingMessage, res: ServerResponse) => {
    w.storageLog.push(`${req.method} ${req.url} auth=${req.headers.authorization ?? '-'}`);
    const digest = /^\/store\/(sha256:[a-f0-9]{64})\?signature=abc$/.exec(req.url ?? '')?.[1];
    const body = digest ? w.blobs.get(digest) : undefined;
    if (!body) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': String(body.length) });
    res.end(body);
  });
  w.storageHost = await listen(storage);
  w.close = async () => {
    for (const s of [registry, tokenServer, storage]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  };
  return w;
}

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: { mediaType: MediaType.OCI_CONFIG, digest: digestOf('{}'), size: 2 }, layers: [] }));

let w: World;
beforeAll(async () => {
  w = await startWorld();
  w.manifests.set('team/a:v1', manifest);
  w.manifests.set('team/b:v1', manifest);
});
afterAll(() => w.close());

function session(creds: RegistryCredentials | undefined = { username: USER, password: PASSWORD }): RegistrySession {
  return new RegistrySession({ retry: FAST, credentials: async () => creds });
}

describe('bearer token flow', () => {
  it('gets a token per repository scope, reuses it, and never sends one repository\'s token to another', async () => {
    w.tokenRequests = [];
    w.registryLog = [];
    const s = session();
    const a = s.repository(parseReference(`${w.registryHost}/team/a:v1`), 'pull');
    const b = s.repository(parseReference(`${w.registryHost}/team/b:v1`), 'pull');
    const da = await a.resolve('v1');
    const db = await b.resolve('v1');
    await a.resolve('v1');
    expect(da.digest).toBe(digestOf(manifest));
    expect(db.digest).toBe(digestOf(manifest));
    expect(w.tokenRequests).toEqual([['repository:team/a:pull'], ['repository:team/b:pull']]);
    const tokenOf = (repo: string) => new Set(w.registryLog.filter((l) => l.includes(`/v2/${repo}/`)).map((l) => l.split(' ')[2]));
    expect(tokenOf('team/a')).toEqual(new Set(['tok-1']));
    expect(tokenOf('team/b')).toEqual(new Set(['tok-2']));
    await s.close();
  });

  it('asks for pull,push when pushing, and sends the manifest with its media type', async () => {
    w.tokenRequests = [];
    const s = session();
    const repo = s.repository(parseReference(`${w.registryHost}/team/new:v1`), 'push');
    const desc = { mediaType: MediaType.OCI_MANIFEST, digest: digestOf(manifest), size: manifest.length };
    await repo.push(desc, manifest);
    await repo.tag(desc, 'v2');
    expect(w.tokenRequests).toEqual([['repository:team/new:pull,push']]);
    expect(w.manifests.get('team/new:v2')?.equals(manifest)).toBe(true);
    expect(w.manifests.get(`team/new:${desc.digest}`)?.equals(manifest)).toBe(true);
    await s.close();
  });

  it('resolveAhead starts the manifest GET; the next resolve takes its answer or its error, later ones ask again', async () => {
    const s = session();
    const a = s.repository(parseReference(`${w.registryHost}/team/a:v1`), 'pull');
    const gets = () => w.registryLog.filter((l) => l.startsWith('GET /v2/team/a/manifests/')).length;
    const before = gets();
    a.resolveAhead('v1');
    a.resolveAhead('nope');
    await new Promise((r) => setTimeout(r, 50));
    expect(gets()).toBe(before + 2);
    expect((await a.resolve('v1')).digest).toBe(digestOf(manifest));
    expect(gets()).toBe(before + 2);
    await expect(a.resolve('nope')).rejects.toMatchObject({ code: 'REGISTRY_NOT_FOUND', registryCode: 'MANIFEST_UNKNOWN' });
    await a.resolve('v1');
    expect(gets()).toBe(before + 3);
    await s.close();
  });

  it('answers a 401 on a cached token with the new challenge and a fresh token (once)', async () => {
    w.tokenRequests = [];
    const s = session();
    const a = s.repository(parseReference(`${w.registryHost}/team/a:v1`), 'pull');
    await a.resolve('v1');
    w.revokeNext = 1;
    await a.resolve('v1');
    expect(w.tokenRequests).toEqual([['repository:team/a:pull'], ['repository:team/a:pull']]);
    w.revokeNext = 5;
    await expect(a.resolve('v1')).rejects.toBeInstanceOf(RegistryUnauthorizedError);
    w.revokeNext = 0;
    await s.close();
  });

  it('reports wrong credentials as unauthorized at the token server, without the password', async () => {
    const s = session({ username: USER, password: 'wrong-pw-123' });
    const err = await s.repository(parseReference(`${w.registryHost}/team/a:v1`), 'pull').resolve('v1').catch((e: unknown) => e);
    await s.close();
    expect(err).toBeInstanceOf(RegistryUnauthorizedError);
    expect((err as Error).message).toContain(`getting a token from ${w.tokenHost} for repository:team/a:pull`);
    expect((err as RegistryUnauthorizedError).registryCode).toBe('UNAUTHORIZED');
    expect(JSON.stringify(err) + String((err as Error).stack)).not.toContain('wrong-pw-123');
  });

  it('checks login credentials against the token server', async () => {
    const c = new RegistryClient(w.registryHost, { retry: FAST });
    await expect(c.checkLogin({ username: USER, password: PASSWORD })).resolves.toBeUndefined();
    await expect(c.checkLogin({ username: USER, password: 'nope' })).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
    await c.close();
  });

  it('follows a blob redirect to storage without sending the registry token there', async () => {
    const data = Buffer.from('blob bytes served from storage '.repeat(1000));
    const desc = { mediaType: MediaType.OCI_LAYER, digest: digestOf(data), size: data.length };
    w.blobs.set(desc.digest, data);
    w.storageLog = [];
    const s = session();
    const got = await s.repository(parseReference(`${w.registryHost}/team/a:v1`), 'pull').fetchBytes(desc);
    await s.close();
    expect(got.equals(data)).toBe(true);
    expect(w.storageLog).toEqual([`GET /store/${desc.digest}?signature=abc auth=-`]);
  });
});
