import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { privateHomeEnv, slipway, type CliResult } from '../helpers/cli.js';
import { testImages, type TestImages } from '../helpers/images.js';

const registry = inject('authRegistry');
const ca = inject('authRegistryCa');
const user = inject('authUser');
const password = inject('authPassword');

let images: TestImages;
let base: string;
let n = 0;

/** A fresh private HOME per scenario: no credentials unless the test adds them. */
function newHome(): string {
  const h = join(base, `home-${n++}`);
  mkdirSync(h, { recursive: true });
  return h;
}

function run(home: string, args: string[], opts: { input?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return slipway(args, {
    env: privateHomeEnv(home, opts.env),
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  });
}

function ok(r: CliResult): CliResult {
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** Every form in which the secret could leak. */
function secrets(): string[] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [password, b64(password), b64(`${user}:${password}`)];
}

function expectNoSecrets(r: CliResult): void {
  for (const s of secrets()) {
    expect(r.stdout).not.toContain(s);
    expect(r.stderr).not.toContain(s);
  }
}

beforeAll(async () => {
  images = await testImages();
  base = mkdtempSync(join(images.dir, '..', 'slipway-e2e-auth-'));
});

describe.skipIf(!registry)('registry with TLS and basic auth', () => {
  it('logs in with --tls-ca and --password-stdin, pushes and pulls, and never prints the credentials with --debug', async () => {
    const home = newHome();
    const login = ok(await run(home, ['login', '--debug', '--tls-ca', ca, registry, '-u', user, '--password-stdin'], { input: `${password}\n` }));
    expect(login.stdout).toBe('Login Succeeded\n');
    const file = join(home, '.config', 'containers', 'auth.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(saved.auths[registry]!.auth, 'base64').toString()).toBe(`${user}:${password}`);
    expectNoSecrets(login);

    const push = ok(await run(home, ['push', '--debug', '--tls-ca', ca, `oci:${images.dir}:busybox`, `${registry}/auth/busybox:1`]));
    expect(push.stdout).toContain(`@${images.busybox.digest}`);
    expect(push.stderr).toContain('auth basic');
    expect(push.stderr).toContain('using https');
    expectNoSecrets(push);

    const root = join(home, 'root');
    const pull = ok(await run(home, ['pull', '--debug', '--tls-ca', ca, '--root', root, `${registry}/auth/busybox:1`]));
    expect(pull.stdout).toContain(images.busybox.digest);
    expectNoSecrets(pull);

    const out = ok(await run(home, ['logout', registry]));
    expect(out.stdout).toContain(`Removed login credentials for ${registry}`);
    const denied = await run(home, ['inspect', '--debug', '--tls-ca', ca, `docker://${registry}/auth/busybox:1`]);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/^Error: resolving manifest 1 at .*\/auth\/busybox: HTTP 401 UNAUTHORIZED: authentication required \(access denied\)$/m);
    expect(denied.stderr).toContain(`hint: log in with "slipway login ${registry}"`);
    const again = await run(home, ['logout', registry]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/^Error: not logged in to /);
  });

  it('refuses wrong credentials at login and saves nothing', async () => {
    const home = newHome();
    const r = await run(home, ['login', '--tls-ca', ca, registry, '-u', user, '--password-stdin'], { input: 'wrong-password-xyz' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^Error: logging in at 127\.0\.0\.1:\d+: HTTP 401/);
    expect(r.stderr).not.toContain('wrong-password-xyz');
    expect(existsSync(join(home, '.config', 'containers', 'auth.json'))).toBe(false);
  });

  it('fails TLS verification without --tls-ca, with a hint to pass it', async () => {
    const home = newHome();
    const r = await run(home, ['login', registry, '-u', user, '--password-stdin'], { input: password });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^Error: pinging \/v2\/ at 127\.0\.0\.1:\d+: TLS failed/);
    expect(r.stderr).toContain('--tls-ca');
  });

  it('trusts a CA added to the system bundle ($SSL_CERT_FILE) without --tls-ca, and not once it is gone from it', async () => {
    const home = newHome();
    const systemBundle = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'].find((f) => existsSync(f));
    const withLocal = join(home, 'system-with-local-ca.pem');
    writeFileSync(withLocal, `${systemBundle ? readFileSync(systemBundle, 'utf8') : ''}\n${readFileSync(ca, 'utf8')}`);
    ok(await run(home, ['login', registry, '-u', user, '--password-stdin'], { input: password, env: { SSL_CERT_FILE: withLocal, NODE_EXTRA_CA_CERTS: '' } }));
    ok(await run(home, ['push', `oci:${images.dir}:busybox`, `${registry}/auth/system-trust:1`], { env: { SSL_CERT_FILE: withLocal, NODE_EXTRA_CA_CERTS: '' } }));
    if (systemBundle !== undefined) {
      const r = await run(home, ['inspect', `docker://${registry}/auth/system-trust:1`], { env: { SSL_CERT_FILE: systemBundle, NODE_EXTRA_CA_CERTS: '' } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/TLS failed/);
    }
  });

  it('reads auths from $DOCKER_CONFIG/config.json and writes logins to $REGISTRY_AUTH_FILE', async () => {
    const home = newHome();
    const dockerConfig = join(home, 'docker-cfg');
    mkdirSync(dockerConfig);
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [`https://${registry}`]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }));
    ok(await run(home, ['push', '--tls-ca', ca, `oci:${images.dir}:multi`, `${registry}/auth/multi:1`], { env: { DOCKER_CONFIG: dockerConfig } }));
    const i = ok(await run(home, ['inspect', '--debug', '--tls-ca', ca, `docker://${registry}/auth/multi:1`], { env: { DOCKER_CONFIG: dockerConfig } }));
    expect(JSON.parse(i.stdout.slice(i.stdout.indexOf('{'))).digest).toBe(images.multi.digest);
    expectNoSecrets(i);

    const authFile = join(home, 'custom-auth.json');
    ok(await run(home, ['login', '--tls-ca', ca, registry, '-u', user, '--password-stdin'], { input: password, env: { REGISTRY_AUTH_FILE: authFile } }));
    expect(Object.keys((JSON.parse(readFileSync(authFile, 'utf8')) as { auths: object }).auths)).toEqual([registry]);
    ok(await run(home, ['inspect', '--tls-ca', ca, `docker://${registry}/auth/multi:1`], { env: { REGISTRY_AUTH_FILE: authFile } }));
  });

  it('talks to the TLS registry without verification when it is named with --insecure-registry', async () => {
    const home = newHome();
    ok(await run(home, ['login', '--insecure-registry', registry, registry, '-u', user, '--password-stdin'], { input: password }));
    ok(await run(home, ['push', '--insecure-registry', registry, `oci:${images.dir}:busybox`, `${registry}/auth/insecure:1`]));
    const i = ok(await run(home, ['inspect', '--insecure-registry', registry, `docker://${registry}/auth/insecure:1`]));
    expect(JSON.parse(i.stdout).digest).toBe(images.busybox.digest);
  });
});
