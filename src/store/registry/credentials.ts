import { builtin } from '../../oci/builtin.js';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { AuthFileError, CredentialHelperError } from './errors.js';

/** Username and password, or an identity token, for one registry. */
export interface RegistryCredentials {
  username: string;
  password: string;
  /**
   * An OAuth2 refresh token (docker's `identitytoken`, or a credential helper's secret for the
   * user `<token>`): bearer tokens are then asked for with grant_type=refresh_token instead of
   * basic auth.
   */
  identityToken?: string;
}

/** The user name docker's credential helpers give for an identity token. */
export const IDENTITY_TOKEN_USER = '<token>';

/** `Basic base64(user:password)` (an identity token stands in for the password). */
export function basicAuthorization(creds: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.identityToken ?? creds.password}`).toString('base64')}`;
}

/** Where credentials were found: a file path or a helper name. Safe to print. */
export interface FoundCredentials {
  credentials: RegistryCredentials;
  source: string;
}

type Env = NodeJS.ProcessEnv;

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

function home(env: Env): string {
  return env['HOME'] || homedir();
}

/**
 * The file `slipway login` writes: `$REGISTRY_AUTH_FILE` when set, else
 * `${XDG_CONFIG_HOME:-$HOME/.config}/containers/auth.json` (podman/skopeo read it too).
 */
export function loginAuthFile(env: Env = process.env): string {
  if (env['REGISTRY_AUTH_FILE']) return env['REGISTRY_AUTH_FILE'];
  const config = env['XDG_CONFIG_HOME'] || join(home(env), '.config');
  return join(config, 'containers', 'auth.json');
}

/** Credential files in lookup order; the first that knows the registry wins. */
export function authFileChain(env: Env = process.env): string[] {
  const files = [loginAuthFile(env)];
  if (env['XDG_RUNTIME_DIR']) files.push(join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'));
  if (env['DOCKER_CONFIG']) files.push(join(env['DOCKER_CONFIG'], 'config.json'));
  files.push(join(home(env), '.docker', 'config.json'));
  return [...new Set(files)];
}

const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** `https://index.docker.io/v1/` -> `docker.io`; `https://host:5000/` -> `host:5000`. */
export function normalizeAuthKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  return HUB_ALIASES.has(k) ? 'docker.io' : k;
}

/** What a credential helper is asked for: docker uses the v1 URL for Docker Hub. */
function helperServerUrl(registry: string): string {
  return normalizeAuthKey(registry) === 'docker.io' ? 'https://index.docker.io/v1/' : registry;
}

async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new AuthFileError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text.trim() === '') return {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as AuthFile;
  } catch {
    throw new AuthFileError(path, 'is not valid JSON');
  }
}

function decodeEntry(path: string, entry: NonNullable<AuthFile['auths']>[string]): RegistryCredentials | undefined {
  if (entry.identitytoken) {
    // docker stores the user name (with an empty password) next to the token
    const user = entry.auth ? Buffer.from(entry.auth, 'base64').toString('utf8').split(':')[0] : entry.username;
    return { username: user || IDENTITY_TOKEN_USER, password: '', identityToken: entry.identitytoken };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i < 0) throw new AuthFileError(path, 'an "auth" value is not base64 of user:password');
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/** Runs `docker-credential-<helper> get` with the server URL on stdin. Undefined when it has nothing. */
export function runCredentialHelper(helper: string, registry: string, env: Env = process.env): Promise<RegistryCredentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) return Promise.reject(new CredentialHelperError(helper, registry, 'invalid helper name'));
  return new Promise((resolve, reject) => {
    const { spawn } = builtin<typeof import('node:child_process')>('node:child_process');
    const child = spawn(`docker-credential-${helper}`, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => {
      reject(new CredentialHelperError(helper, registry, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found on PATH' : 'failed to start'));
    });
    child.on('close', (code) => {
      if (code !== 0) {
        // "credentials not found" is the documented way to say "nothing stored"
        if (/not found/i.test(out + err)) return resolve(undefined);
        return reject(new CredentialHelperError(helper, registry, `exited with status ${code}`));
      }
      try {
        const j = JSON.parse(out) as { Username?: unknown; Secret?: unknown };
        if (typeof j.Username !== 'string' || typeof j.Secret !== 'string') throw new Error('fields');
        resolve(j.Username === IDENTITY_TOKEN_USER ? { username: j.Username, password: '', identityToken: j.Secret } : { username: j.Username, password: j.Secret });
      } catch {
        reject(new CredentialHelperError(helper, registry, 'printed something other than {"Username","Secret"} JSON'));
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(helperServerUrl(registry));
  });
}

/**
 * Finds credentials for `registry` (host[:port]) along authFileChain(): per file,
 * `credHelpers[registry]`, then `auths[registry]`, then `credsStore`.
 */
export async function findCredentials(registry: string, env: Env = process.env): Promise<FoundCredentials | undefined> {
  const want = normalizeAuthKey(registry);
  for (const path of authFileChain(env)) {
    const file = await readAuthFile(path);
    if (!file) continue;
    const helperKey = Object.keys(file.credHelpers ?? {}).find((k) => normalizeAuthKey(k) === want);
    if (helperKey !== undefined) {
      const helper = (file.credHelpers as Record<string, string>)[helperKey] as string;
      const c = await runCredentialHelper(helper, registry, env);
      if (c) return { credentials: c, source: `docker-credential-${helper}` };
    }
    const authKey = Object.keys(file.auths ?? {}).find((k) => normalizeAuthKey(k) === want);
    if (authKey !== undefined) {
      const c = decodeEntry(path, (file.auths as NonNullable<AuthFile['auths']>)[authKey] ?? {});
      if (c) return { credentials: c, source: path };
    }
    if (file.credsStore) {
      const c = await runCredentialHelper(file.credsStore, registry, env);
      if (c) return { credentials: c, source: `docker-credential-${file.credsStore}` };
    }
  }
  return undefined;
}

async function writeAuthFile(path: string, file: AuthFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, path);
}

/** Stores credentials in loginAuthFile() (`auths[registry].auth` = base64 user:password). Returns the path. */
export async function saveCredentials(registry: string, creds: RegistryCredentials, env: Env = process.env): Promise<string> {
  const path = loginAuthFile(env);
  const file = (await readAuthFile(path)) ?? {};
  const auths = { ...(file.auths ?? {}) };
  const key = normalizeAuthKey(registry);
  for (const k of Object.keys(auths)) if (normalizeAuthKey(k) === key) delete auths[k];
  auths[key] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  await writeAuthFile(path, { ...file, auths });
  return path;
}

/** Removes the registry from loginAuthFile(). Returns false when it was not logged in there. */
export async function removeCredentials(registry: string, env: Env = process.env): Promise<boolean> {
  const path = loginAuthFile(env);
  const file = await readAuthFile(path);
  if (!file?.auths) return false;
  const key = normalizeAuthKey(registry);
  const auths = { ...file.auths };
  let removed = false;
  for (const k of Object.keys(auths)) {
    if (normalizeAuthKey(k) === key) {
      delete auths[k];
      removed = true;
    }
  }
  if (removed) await writeAuthFile(path, { ...file, auths });
  return removed;
}
