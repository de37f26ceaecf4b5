import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ContextSelection } from '../plan/types.js';
import type { SourceRoot } from './copy/resolve.js';
import { resolveCopy } from './copy/resolve.js';
import { EMPTY_FS, type LayerEntry } from './copy/entries.js';

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
    // sync: a page-cache stat is microseconds, a thread-pool round trip per file is not (5,000-file contexts)
    const st = statSync(path);
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
