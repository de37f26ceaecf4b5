import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Descriptor, Digest, History } from '../oci/index.js';
import type { CacheKeyPart } from '../plan/types.js';
import type { CacheMiss } from './options.js';

/** What a cache hit restores: the step's layer (if it made one) and its history entry. */
export interface CacheRecord {
  key: string;
  /** Readable parts (secrets and build-arg values only as digests, as the planner gives them). */
  parts: CacheKeyPart[];
  parentKey?: string;
  layer?: { descriptor: Descriptor; diffId: Digest };
  history: History;
  created: string;
}

function hex(key: string): string {
  return key.replace(/^sha256:/, '');
}

/** Temp file + rename: readers see the old file or the new one, never a part. */
export async function atomicWrite(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * The layer cache under `<root>/cache/`: `steps/<key>.json` maps a step's cache
 * key to the layer it produced; `children/<parent key>.json` lists the keys seen
 * after a parent, so a miss can say which part changed. Writes are temp+rename:
 * concurrent builds sharing a root never see a partial record.
 */
export class LayerCache {
  constructor(readonly dir: string) {}

  private stepPath(key: string): string {
    return join(this.dir, 'steps', `${hex(key)}.json`);
  }

  private childrenPath(parent: string): string {
    return join(this.dir, 'children', `${hex(parent)}.json`);
  }

  async get(key: string): Promise<CacheRecord | undefined> {
    try {
      // sync: a record is a few hundred bytes; a fully cached build reads one per step
      return JSON.parse(readFileSync(this.stepPath(key), 'utf8')) as CacheRecord;
    } catch {
      return undefined;
    }
  }

  async put(rec: CacheRecord): Promise<void> {
    await mkdir(join(this.dir, 'steps'), { recursive: true });
    await atomicWrite(this.stepPath(rec.key), JSON.stringify(rec));
    const parent = rec.parentKey ?? 'root';
    await mkdir(join(this.dir, 'children'), { recursive: true });
    const sibs = await this.siblings(parent);
    const next = [rec.key, ...sibs.filter((k) => k !== rec.key)].slice(0, 16);
    await atomicWrite(this.childrenPath(parent), JSON.stringify(next));
  }

  private async siblings(parent: string): Promise<string[]> {
    try {
      return JSON.parse(await readFile(this.childrenPath(parent), 'utf8')) as string[];
    } catch {
      return [];
    }
  }

  /**
   * Why `parts` found no record: the first part that differs from the most
   * similar record built after the same parent, or `not-found`.
   */
  async explainMiss(parentKey: string | undefined, parts: CacheKeyPart[]): Promise<CacheMiss> {
    const sibs = await this.siblings(parentKey ?? 'root');
    let best: { diff: string; same: number } | undefined;
    for (const k of sibs) {
      const rec = await this.get(k);
      if (!rec) continue;
      let same = 0;
      let diff: string | undefined;
      const names = new Set([...rec.parts.map((p) => p.name), ...parts.map((p) => p.name)]);
      for (const n of names) {
        const a = rec.parts.find((p) => p.name === n)?.value;
        const b = parts.find((p) => p.name === n)?.value;
        if (a === b) same++;
        else diff ??= n;
      }
      if (diff !== undefined && (best === undefined || same > best.same)) best = { diff, same };
    }
    return best ? { reason: 'not-found', part: best.diff } : { reason: 'not-found' };
  }
}
