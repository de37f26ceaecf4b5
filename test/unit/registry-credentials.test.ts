import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authFileChain,
  findCredentials,
  loginAuthFile,
  removeCredentials,
  saveCredentials,
} from '../../src/store/registry/credentials.js';

let dir: string;
let n = 0;

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

/** A fresh HOME with the given files (path relative to HOME -> JSON) and a PATH dir for helpers. */
function world(files: Record<string, unknown>, extraEnv: Record<string, string> = {}): NodeJS.ProcessEnv {
  const home = join(dir, `home-${n++}`);
  const bin = join(home, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const [rel, json] of Object.entries(files)) {
    mkdirSync(join(home, rel, '..'), { recursive: true });
    writeFileSync(join(home, rel), typeof json === 'string' ? json : JSON.stringify(json));
  }
  return { HOME: home, PATH: `${bin}:${process.env['PATH']}`, ...Object.fromEntries(Object.entries(extraEnv).map(([k, v]) => [k, v.replace('$HOME', home)])) };
}

/** A docker-credential-NAME script that answers for one server URL and logs what it was asked. */
function helper(env: NodeJS.ProcessEnv, name: string, server: string, user: string, secret: string): void {
  const path = join(env['HOME'] as string, 'bin', `docker-credential-${name}`);
  writeFileSync(path, `#!/bin/sh
[ "$1" = get ] || exit 3
read -r server
echo "$server" >> "$HOME/helper-${name}.log"
if [ "$server" = "${server}" ]; then
  printf '{"ServerURL":"%s","Username":"${user}","Secret":"${secret}"}' "$server"
else
  echo "credentials not found in native keychain"; exit 1
fi
`);
  chmodSync(path, 0o755);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'slipway-creds-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('credential chain', () => {
  it('reads base64 auths from ~/.docker/config.json, matching URL-style keys', async () => {
    const env = world({ '.docker/config.json': { auths: { 'https://reg.example:5000/v2/': { auth: b64('alice:pa:ss') } } } });
    expect(await findCredentials('reg.example:5000', env)).toEqual({
      credentials: { username: 'alice', password: 'pa:ss' },
      source: join(env['HOME'] as string, '.docker/config.json'),
    });
    expect(await findCredentials('other.example', env)).toBeUndefined();
  });

  it('prefers $REGISTRY_AUTH_FILE, then the login file, then $DOCKER_CONFIG, then ~/.docker', async () => {
    const entry = (u: string) => ({ auths: { 'r.example': { auth: b64(`${u}:pw`) } } });
    const files = {
      'auth-env.json': entry('from-env'),
      '.config/containers/auth.json': entry('from-login'),
      'dc/config.json': entry('from-docker-config'),
      '.docker/config.json': entry('from-home'),
    };
    const find = async (extra: Record<string, string>, drop: string[] = []) => {
      const f = Object.fromEntries(Object.entries(files).filter(([k]) => !drop.includes(k)));
      return (await findCredentials('r.example', world(f, extra)))?.credentials.username;
    };
    expect(await find({ REGISTRY_AUTH_FILE: '$HOME/auth-env.json', DOCKER_CONFIG: '$HOME/dc' })).toBe('from-env');
    expect(await find({ DOCKER_CONFIG: '$HOME/dc' })).toBe('from-login');
    expect(await find({ DOCKER_CONFIG: '$HOME/dc' }, ['.config/containers/auth.json'])).toBe('from-docker-config');
    expect(await find({}, ['.config/containers/auth.json'])).toBe('from-home');
  });

  it('asks credHelpers for their registry and credsStore for the rest', async () => {
    const env = world({ '.docker/config.json': { credsStore: 'store1', credHelpers: { 'special.example': 'helper2' } } });
    helper(env, 'store1', 'https://index.docker.io/v1/', 'hubuser', 'hubsecret');
    helper(env, 'helper2', 'special.example', 'spuser', 'spsecret');
    expect(await findCredentials('docker.io', env)).toEqual({ credentials: { username: 'hubuser', password: 'hubsecret' }, source: 'docker-credential-store1' });
    expect(await findCredentials('special.example', env)).toEqual({ credentials: { username: 'spuser', password: 'spsecret' }, source: 'docker-credential-helper2' });
    // the store helper says "not found" for unknown servers: anonymous, not an error
    expect(await findCredentials('unknown.example', env)).toBeUndefined();
    expect(readFileSync(join(env['HOME'] as string, 'helper-store1.log'), 'utf8')).toContain('unknown.example');
  });

  it('reports a missing helper without printing anything secret', async () => {
    const env = world({ '.docker/config.json': { credHelpers: { 'x.example': 'nonexistent-helper' } } });
    await expect(findCredentials('x.example', env)).rejects.toMatchObject({
      code: 'CREDENTIAL_HELPER',
      message: expect.stringContaining('docker-credential-nonexistent-helper for x.example: not found on PATH'),
    });
  });

  it('names the file when it is not JSON', async () => {
    const env = world({ '.docker/config.json': '{ nope' });
    await expect(findCredentials('x.example', env)).rejects.toMatchObject({ code: 'AUTH_FILE', message: expect.stringContaining('.docker/config.json') });
  });

  it('lists the files it reads in order', () => {
    const env = { HOME: '/h', DOCKER_CONFIG: '/dc', REGISTRY_AUTH_FILE: '/ra.json', XDG_RUNTIME_DIR: '/run/user/1' };
    expect(authFileChain(env)).toEqual(['/ra.json', '/run/user/1/containers/auth.json', '/dc/config.json', '/h/.docker/config.json']);
    expect(loginAuthFile({ HOME: '/h' })).toBe('/h/.config/containers/auth.json');
    expect(loginAuthFile({ HOME: '/h', XDG_CONFIG_HOME: '/xc' })).toBe('/xc/containers/auth.json');
  });
});

describe('login file', () => {
  it('saves user:password base64 in auths with mode 0600, keeps other keys, and removes it again', async () => {
    const env = world({ '.config/containers/auth.json': { auths: { 'keep.example': { auth: b64('k:k') } }, credHelpers: { a: 'b' } } });
    const path = await saveCredentials('https://new.example:5000/', { username: 'bob', password: 's3cret' }, env);
    expect(path).toBe(loginAuthFile(env));
    const saved = JSON.parse(readFileSync(path, 'utf8')) as { auths: Record<string, { auth: string }>; credHelpers: unknown };
    expect(saved.auths['new.example:5000']).toEqual({ auth: b64('bob:s3cret') });
    expect(saved.auths['keep.example']).toBeDefined();
    expect(saved.credHelpers).toEqual({ a: 'b' });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect((await findCredentials('new.example:5000', env))?.credentials).toEqual({ username: 'bob', password: 's3cret' });

    expect(await removeCredentials('new.example:5000', env)).toBe(true);
    expect(await removeCredentials('new.example:5000', env)).toBe(false);
    expect(await findCredentials('new.example:5000', env)).toBeUndefined();
    expect(await findCredentials('keep.example', env)).toBeDefined();
  });
});
