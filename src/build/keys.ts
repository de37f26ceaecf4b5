import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import micromatch from 'micromatch';
import type { CacheKeyPart, ContextSelection, Plan } from '../plan/types.js';
import type { SourceRoot } from './copy/resolve.js';
import { resolveCopy } from './copy/resolve.js';
import { EMPTY_FS, type LayerEntry } from './copy/entries.js';

function keyOf(parts: readonly CacheKeyPart[]): string | undefined {
  if (parts.some((p) => p.pending)) return undefined;
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p.name.length}:${p.name}${p.value.length}:${p.value}\n`);
  return `sha256:${h.digest('hex')}`;
}

/**
 * ADAPTER (until the context module's .dockerignore lands): Docker's
 * .dockerignore rules: patterns anchored at the context root, `**`, `!`
 * exceptions with the last match winning, a pattern matching a directory
 * excluding what is below it. `<Dockerfile>.dockerignore` beside the
 * Dockerfile takes precedence.
 */
export async function loadDockerignore(contextDir: string, dockerfile?: string): Promise<((rel: string) => boolean) | undefined> {
  let text: string | undefined;
  if (dockerfile !== undefined) text = await readFile(`${dockerfile}.dockerignore`, 'utf8').catch(() => undefined);
  text ??= await readFile(join(contextDir, '.dockerignore'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = (negate ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '').replace(/^\.\//, '');
      return { negate, pat };
    })
    .filter((r) => r.pat !== '');
  return (rel: string) => {
    if (rel === 'Dockerfile' || rel === '.dockerignore') return false;
    let ignored = false;
    const parts = rel.split('/');
    for (const r of rules) {
      // a pattern excludes the path itself or any parent directory of it
      let hit = false;
      for (let i = parts.length; i >= 1 && !hit; i--) hit = micromatch.isMatch(parts.slice(0, i).join('/'), r.pat, { dot: true });
      if (hit) ignored = !r.negate;
    }
    return ignored;
  };
}

/**
 * Remembers file content digests by (path, size, mtime, inode, ctime) so an
 * unchanged context is not read again. Only the content digest ever enters a
 * cache key; the stat data just says when a file must be re-read.
 */
export class FileHashMemo {
  private data: Record<string, string> = {};
  private dirty = false;
  constructor(readonly file: string) {}

  async load(): Promise<void> {
    try {
      this.data = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, string>;
    } catch {
      this.data = {};
    }
  }

  async digest(path: string): Promise<string> {
    const st = await stat(path);
    const k = `${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}\0${st.ctimeMs}`;
    const hit = this.data[k];
    if (hit !== undefined) return hit;
    const h = createHash('sha256');
    for await (const c of createReadStream(path)) h.update(c as Buffer);
    const d = h.digest('hex');
    this.data[k] = d;
    this.dirty = true;
    return d;
  }

  async save(): Promise<void> {
    if (!this.dirty) return;
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(this.data));
    await rename(tmp, this.file);
  }
}

/** Content hash of the context files a step reads: paths, types, modes, link targets and bytes, never mtimes or host paths. */
export async function hashContextSelection(root: SourceRoot, sel: ContextSelection, memo?: FileHashMemo): Promise<string> {
  const entries: LayerEntry[] = await resolveCopy(root, { sources: sel.sources, dest: '/ctx/', parents: sel.parents, exclude: sel.exclude, now: 0, where: 'cache key' }, EMPTY_FS).catch((e: unknown) => {
    // a missing source fails later with a located message; the key just records it
    return [{ path: `missing:${String((e as Error).message)}`, type: 'file' as const, mode: 0, uid: 0, gid: 0, mtime: 0, size: 0 }];
  });
  const h = createHash('sha256');
  for (const e of entries) {
    h.update(`${e.path}\0${e.type}\0${e.mode.toString(8)}\0${e.linkname ?? ''}\0${e.size}\0`);
    if (e.type === 'file' && e.source !== undefined) {
      if (memo) h.update(await memo.digest(e.source));
      else for await (const c of createReadStream(e.source)) h.update(c as Buffer);
    }
    h.update('\n');
  }
  return `sha256:${h.digest('hex')}`;
}

/**
 * ADAPTER (until the planner's resolveCacheKeys lands): fills in pending
 * cache-key parts: context content hashes, the final keys of stages, and the
 * parent chain; recomputes each key with the planner's formula.
 */
export async function resolvePendingKeys(plan: Plan, hashContext: (sel: ContextSelection) => Promise<string>): Promise<void> {
  const finalKey = new Map<number, string | undefined>();
  const memo = new Map<string, Promise<string>>();
  const hash = (sel: ContextSelection): Promise<string> => {
    const k = JSON.stringify(sel);
    let p = memo.get(k);
    if (!p) {
      p = hashContext(sel);
      memo.set(k, p);
    }
    return p;
  };
  const fill = async (parts: CacheKeyPart[], parent: string | undefined): Promise<void> => {
    for (const p of parts) {
      if (!p.pending) continue;
      if (p.name === 'parent') {
        if (parent !== undefined) {
          p.value = parent;
          delete p.pending;
        }
      } else if (p.context) {
        p.value = await hash(p.context);
        delete p.pending;
      } else if (p.stage !== undefined) {
        const k = finalKey.get(p.stage);
        if (k !== undefined) {
          p.value = k;
          delete p.pending;
        }
      }
    }
  };
  for (const stage of plan.stages) {
    await fill(stage.baseKey.parts, undefined);
    const bk = stage.baseKey.key ?? keyOf(stage.baseKey.parts);
    if (bk !== undefined) stage.baseKey.key = bk;
    let parent = stage.baseKey.key;
    for (const step of stage.steps) {
      await fill(step.cache.parts, parent);
      const k = step.cache.key ?? keyOf(step.cache.parts);
      if (k !== undefined) step.cache.key = k;
      parent = step.cache.key;
    }
    finalKey.set(stage.index, parent);
  }
}
