import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, digestOf, parseReference } from '../../src/oci/index.js';
import { RegistrySession, RegistryUnauthorizedError, findCredentials } from '../../src/store/registry/index.js';

const IDENTITY_TOKEN = 'idt-secret-4f1c';
const ROTATED = 'idt-rotated-9a2b';
const FAST = { attempts: 2, baseMs: 10, maxMs: 20 };

interface TokenRequest {
  method: string;
  contentType: string | undefined;
  authorization: string | undefined;
  query: string;
  form: Record<string, string>;
}

interface World {
  host: string;
  tokenRequests: TokenRequest[];
  close(): Promise<void>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    resolve(`127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`);
  }));
}

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: { mediaType: MediaType.OCI_CONFIG, digest: digestOf('{}'), size: 2 }, layers: [] }));

/**
 * An OAuth2 token server that only knows the refresh-token grant (a refresh token is good
 * once: each answer rotates it) and a registry that serves one manifest for its access tokens.
 */
async function startWorld(): Promise<World> {
  const w: World = { host: '', tokenRequests: [], close: async () => {} };
  const valid = new Set([IDENTITY_TOKEN]);
  const access = new Set<string>();
  const tokenServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const form = Object.fromEntries(new URLSearchParams(body));
      w.tokenRequests.push({ method: req.method ?? '', contentType: req.headers['content-type'], authorization: req.headers.authorization, query: url.search, form });
      if (req.method !== 'POST' || form['grant_type'] !== 'refresh_token' || !valid.has(form['refresh_token'] ?? '')) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid grant' }] }));
        return;
      }
      valid.delete(form['refresh_token'] ?? '');
      valid.add(ROTATED);
      const token = `acc-${w.tokenRequests.length}`;
      access.add(token);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: token, expires_in: 300, refresh_token: ROTATED }));
    });
  });
  const tokenHost = await listen(tokenServer);
  const registry = createServer((req: IncomingMessage, res: ServerResponse) => {
    const auth = req.headers.authorization ?? '';
    const m = /^\/v2\/(.+)\/manifests\/[^/]+$/.exec(req.url ?? '');
    if (req.url === '/v2/' || !access.has(auth.replace(/^Bearer /, ''))) {
      const scope = m ? `,scope="repository:${m[1]}:pull"` : '';
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${tokenHost}/oauth2/token",service="fake-registry"${scope}` });
      res.end();
      return;
    }
    if (!m) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': MediaType.OCI_MANIFEST, 'docker-content-digest': digestOf(manifest), 'content-length': String(manifest.length) });
    res.end(req.method === 'HEAD' ? undefined : manifest);
  });
  w.host = await listen(registry);
  w.close = async () => {
    await new Promise((r) => tokenServer.close(r));
    await new Promise((r) => registry.close(r));
  };
  return w;
}

let world: World;
let work: string;
let n = 0;

/** A private HOME whose ~/.docker/config.json holds `auths`. */
function homeWith(auths: Record<string, unknown>): NodeJS.ProcessEnv {
  const home = join(work, `home-${++n}`);
  mkdirSync(join(home, '.docker'), { recursive: true });
  writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths }));
  return { HOME: home, PATH: process.env['PATH'] };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'slipway-idtoken-'));
  world = await startWorld();
});
afterAll(async () => {
  await world?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('docker identity tokens (OAuth2 refresh-token grant)', () => {
  it('reads identitytoken from config.json with the user name docker stores next to it', async () => {
    const env = homeWith({ [world.host]: { auth: Buffer.from('alice:').toString('base64'), identitytoken: IDENTITY_TOKEN } });
    const found = await findCredentials(world.host, env);
    expect(found?.credentials).toEqual({ username: 'alice', password: '', identityToken: IDENTITY_TOKEN });
  });

  it('takes the secret of a credential helper that answers for the user <token> as an identity token', async () => {
    const bin = join(work, `bin-${++n}`);
    mkdirSync(bin);
    writeFileSync(join(bin, 'docker-credential-idt'), `#!/bin/sh\ncat >/dev/null\necho '{"ServerURL":"x","Username":"<token>","Secret":"${IDENTITY_TOKEN}"}'\n`);
    chmodSync(join(bin, 'docker-credential-idt'), 0o755);
    const home = join(work, `home-${++n}`);
    mkdirSync(join(home, '.docker'), { recursive: true });
    writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ credHelpers: { [world.host]: 'idt' } }));
    const found = await findCredentials(world.host, { HOME: home, PATH: `${bin}:${process.env['PATH'] ?? ''}` });
    expect(found?.credentials).toEqual({ username: '<token>', password: '', identityToken: IDENTITY_TOKEN });
  });

  it('POSTs the identity token to the realm as a refresh token (never Basic, never in the URL), then uses the rotated one', async () => {
    world.tokenRequests = [];
    const env = homeWith({ [world.host]: { auth: Buffer.from('alice:').toString('base64'), identitytoken: IDENTITY_TOKEN } });
    const s = new RegistrySession({ env, retry: FAST });
    try {
      const a = await s.repository(parseReference(`${world.host}/team/app:v1`), 'pull').resolve('v1');
      expect(a.digest).toBe(digestOf(manifest));
      const b = await s.repository(parseReference(`${world.host}/team/other:v1`), 'pull').resolve('v1');
      expect(b.digest).toBe(digestOf(manifest));
    } finally {
      await s.close();
    }
    expect(world.tokenRequests.length).toBe(2);
    for (const r of world.tokenRequests) {
      expect(r).toMatchObject({ method: 'POST', contentType: 'application/x-www-form-urlencoded', authorization: undefined, query: '' });
      expect(r.form).toMatchObject({ grant_type: 'refresh_token', service: 'fake-registry' });
    }
    expect(world.tokenRequests[0]?.form).toMatchObject({ refresh_token: IDENTITY_TOKEN, scope: 'repository:team/app:pull' });
    expect(world.tokenRequests[1]?.form).toMatchObject({ refresh_token: ROTATED, scope: 'repository:team/other:pull' });
  });

  it('a refused identity token fails as unauthorized without the token in the message', async () => {
    const env = homeWith({ [world.host]: { identitytoken: 'idt-wrong-77' } });
    const s = new RegistrySession({ env, retry: FAST });
    const err = await s.repository(parseReference(`${world.host}/team/app:v1`), 'pull').resolve('v1').catch((e: unknown) => e);
    await s.close();
    expect(err).toBeInstanceOf(RegistryUnauthorizedError);
    expect((err as Error).message).toContain(world.host);
    expect(`${(err as Error).message} ${(err as { hint?: string }).hint ?? ''}`).not.toContain('idt-wrong-77');
  });
});
