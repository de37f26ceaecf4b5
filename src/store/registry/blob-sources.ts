import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { slipwayCacheDir } from '../../oci/private-cache.js';

const MAX_REPOS_PER_BLOB = 4;
const MAX_BLOBS_PER_REGISTRY = 20_000;

type Table = Record<string, Record<string, string[]>>; // registry -> digest -> repositories (newest first)

/**
 * `${XDG_CACHE_HOME:-$HOME/.cache}/slipway/blob-sources.json`, the cache dir resolved as for every
 * slipway cache (a relative XDG_CACHE_HOME or HOME is ignored, as the XDG spec says); the
 * account's home directory when neither variable gives one.
 */
export function defaultBlobSourcesFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(slipwayCacheDir(env) ?? join(homedir(), '.cache', 'slipway'), 'blob-sources.json');
}

/**
 * Which repositories of a registry are known to hold a blob: the hint for cross-repository
 * mounts. Learned from pulls, pushes and exists checks; optionally persisted in a small JSON
 * file so a later process can mount too. A hint may be stale: a failed mount falls back to upload.
 */
export class BlobSources {
  private table: Table = {};
  private loaded = false;
  private dirty = false;

  constructor(private readonly file?: string) {}

  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    if (!this.file) return;
    try {
      const t = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      if (typeof t === 'object' && t !== null && !Array.isArray(t)) this.table = t as Table;
    } catch {
      /* missing or corrupt hint file: start empty */
    }
  }

  /** Repositories of `registry` known to hold `digest`, newest first. */
  get(registry: string, digest: string): string[] {
    this.load();
    const r = this.table[registry]?.[digest];
    return Array.isArray(r) ? r.filter((x) => typeof x === 'string') : [];
  }

  add(registry: string, digest: string, repository: string): void {
    this.load();
    const reg = (this.table[registry] ??= {});
    const old = reg[digest] ?? [];
    if (old[0] === repository) return;
    reg[digest] = [repository, ...old.filter((r) => r !== repository)].slice(0, MAX_REPOS_PER_BLOB);
    const keys = Object.keys(reg);
    if (keys.length > MAX_BLOBS_PER_REGISTRY) for (const k of keys.slice(0, keys.length - MAX_BLOBS_PER_REGISTRY)) delete reg[k];
    this.dirty = true;
  }

  /** Writes the hints (merged with what other processes wrote meanwhile); best effort. */
  save(): void {
    if (!this.file || !this.dirty) return;
    const mine = this.table;
    this.table = {};
    this.loaded = false;
    this.load();
    for (const [reg, blobs] of Object.entries(mine)) {
      for (const [digest, repos] of Object.entries(blobs)) for (const repo of [...repos].reverse()) this.add(reg, digest, repo);
    }
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.table));
      renameSync(tmp, this.file);
      this.dirty = false;
    } catch {
      /* a hint cache is optional */
    }
  }
}
