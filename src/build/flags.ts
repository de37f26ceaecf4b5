import { UsageError } from '../oci/index.js';
import type { SecretSource, SshSource } from './options.js';

/**
 * Parsers for the docker/buildx spellings of `slipway build` flags. Pure: they
 * take strings and return values or throw UsageError naming the flag.
 */

/** `K=V` (V may contain '='); `K` alone when `allowBare`. */
export function parseKeyValue(value: string, flag: string, allowBare = false): [string, string | undefined] {
  const i = value.indexOf('=');
  if (i < 0) {
    if (allowBare && value !== '') return [value, undefined];
    throw new UsageError(`${flag}: expected KEY=VALUE, got "${value}"`, `e.g. ${flag} FOO=bar`);
  }
  const k = value.slice(0, i);
  if (k === '') throw new UsageError(`${flag}: empty key in "${value}"`, `e.g. ${flag} FOO=bar`);
  return [k, value.slice(i + 1)];
}

/** `--label K=V` / `--annotation K=V`, last one wins. */
export function parseKeyValueFlags(values: readonly string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const [k, val] = parseKeyValue(v, flag);
    out[k] = val ?? '';
  }
  return out;
}

/** `--build-arg K=V` or `--build-arg K` (value from `env`; skipped when unset there, as docker does). */
export function parseBuildArgs(values: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const [k, val] = parseKeyValue(v, '--build-arg', true);
    if (val !== undefined) out[k] = val;
    else if (env[k] !== undefined) out[k] = env[k] as string;
  }
  return out;
}

/** Splits `a=b,c=d` fields (buildx CSV style; a field may be quoted with "..."). */
export function parseFields(value: string): [string, string][] {
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(cur);
      cur = '';
    } else cur += ch;
  }
  fields.push(cur);
  return fields
    .filter((f) => f.trim() !== '')
    .map((f) => {
      const i = f.indexOf('=');
      return i < 0 ? [f.trim(), ''] : [f.slice(0, i).trim().toLowerCase(), f.slice(i + 1)];
    });
}

/** `--secret id=ID,src=PATH` | `id=ID,env=VAR` | `id=ID` (env var ID, as buildx falls back). */
export function parseSecretSpec(value: string): SecretSource {
  let id: string | undefined;
  let src: string | undefined;
  let envName: string | undefined;
  for (const [k, v] of parseFields(value)) {
    if (k === 'id') id = v;
    else if (k === 'src' || k === 'source') src = v;
    else if (k === 'env') envName = v;
    else if (k === 'type') {
      if (v !== 'file' && v !== 'env') throw new UsageError(`--secret: unknown type "${v}"`, 'use type=file or type=env');
    } else throw new UsageError(`--secret: unknown field "${k}" in "${value}"`, 'use --secret id=ID,src=PATH or --secret id=ID,env=VAR');
  }
  if (!id) throw new UsageError(`--secret: missing id in "${value}"`, 'use --secret id=ID,src=PATH or --secret id=ID,env=VAR');
  if (src !== undefined && envName !== undefined) throw new UsageError(`--secret ${id}: give src= or env=, not both`);
  if (src !== undefined) return { id, src };
  return { id, env: envName ?? id };
}

/** `--ssh default` | `--ssh ID=PATH[,PATH...]`. */
export function parseSshSpec(value: string, env: NodeJS.ProcessEnv): SshSource {
  const i = value.indexOf('=');
  const id = i < 0 ? value : value.slice(0, i);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new UsageError(`--ssh: invalid id "${id}"`, 'use --ssh default or --ssh ID=PATH');
  const paths = i < 0 ? [] : value.slice(i + 1).split(',').filter((p) => p !== '');
  if (paths.length === 0) {
    const sock = env.SSH_AUTH_SOCK;
    if (!sock) throw new UsageError(`--ssh ${id}: no path given and SSH_AUTH_SOCK is not set`, 'start ssh-agent or pass --ssh ID=/path/to/socket');
    paths.push(sock);
  }
  return { id, paths };
}

/** `--timestamp` / SOURCE_DATE_EPOCH: unix seconds. */
export function parseBuildTimestamp(value: string, flag = '--timestamp'): number {
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`${flag}: expected unix seconds, got "${value}"`, 'e.g. --timestamp $(git log -1 --format=%ct)');
  return Number(value.trim());
}

export function parseBuildJobs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--jobs: expected a positive integer, got "${value}"`);
  return n;
}
