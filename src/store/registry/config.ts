import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { SlipwayError } from '../../oci/index.js';

/**
 * Registry configuration file (README "Registry configuration"):
 * `$SLIPWAY_REGISTRIES_CONFIG`, else `${XDG_CONFIG_HOME:-$HOME/.config}/slipway/registries.json`:
 *
 *   { "mirrors": { "docker.io": ["mirror.example.com", "127.0.0.1:5000"] },
 *     "insecure": ["registry.lan:5000"] }
 *
 * Mirrors are tried in order for pulls from docker.io (same repository path), then docker.io itself.
 * Pushes always go to the named registry.
 */
export interface RegistriesConfig {
  mirrors: Record<string, string[]>;
  insecure: string[];
}

export class RegistriesConfigError extends SlipwayError {
  constructor(path: string, what: string) {
    super('REGISTRIES_CONFIG', `registry configuration ${path}: ${what}`, {
      hint: 'expected {"mirrors": {"docker.io": ["host[:port]", ...]}, "insecure": ["host[:port]", ...]}',
    });
  }
}

export function registriesConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['SLIPWAY_REGISTRIES_CONFIG']) return env['SLIPWAY_REGISTRIES_CONFIG'];
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return join(base, 'slipway', 'registries.json');
}

function stringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string' && x.trim() !== '' && !x.includes('/'));
}

export function parseRegistriesConfig(text: string, path: string): RegistriesConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new RegistriesConfigError(path, 'is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RegistriesConfigError(path, 'must be a JSON object');
  const obj = raw as { mirrors?: unknown; insecure?: unknown };
  const mirrors: Record<string, string[]> = {};
  if (obj.mirrors !== undefined) {
    if (typeof obj.mirrors !== 'object' || obj.mirrors === null || Array.isArray(obj.mirrors)) {
      throw new RegistriesConfigError(path, '"mirrors" must map a registry to a list of hosts');
    }
    for (const [k, v] of Object.entries(obj.mirrors)) {
      if (!stringList(v)) throw new RegistriesConfigError(path, `"mirrors"."${k}" must be a list of host[:port] strings`);
      mirrors[k] = v;
    }
  }
  if (obj.insecure !== undefined && !stringList(obj.insecure)) {
    throw new RegistriesConfigError(path, '"insecure" must be a list of host[:port] strings');
  }
  return { mirrors, insecure: (obj.insecure as string[] | undefined) ?? [] };
}

/** Reads the config file; a missing file is an empty config. */
export function loadRegistriesConfig(env: NodeJS.ProcessEnv = process.env): RegistriesConfig {
  const path = registriesConfigPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { mirrors: {}, insecure: [] };
    throw new RegistriesConfigError(path, `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseRegistriesConfig(text, path);
}
