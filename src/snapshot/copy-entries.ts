import { lstat, readlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { LayerEntry } from './changes.js';
import { normalizeRel } from './changes.js';
import { type LayerResult, type WriteLayerOptions, writeLayer } from './layer-writer.js';
import type { EntryType } from './tar-format.js';

/** One file COPY/ADD puts into the image: the executor already knows the change set. */
export interface CopyEntry {
  /** Path in the image ("/app/main.js"). */
  dest: string;
  /** Host file to read (lstat gives type, size, mode, mtime unless given), a buffer, or a stream opener. */
  source?: string | Buffer | { open(): Readable | Promise<Readable>; size: number };
  type?: Extract<EntryType, 'file' | 'dir' | 'symlink'>;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  linkname?: string;
}

/** Turns COPY entries into layer entries (no tree scan). */
export async function copyChanges(entries: readonly CopyEntry[]): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  for (const c of entries) {
    const path = normalizeRel(c.dest);
    if (path.split('/').includes('..')) throw new Error(`COPY destination ${c.dest} contains ".."`);
    const base = { path, uid: c.uid ?? 0, gid: c.gid ?? 0 };
    if (typeof c.source === 'string') {
      const st = await lstat(c.source);
      const mtime = c.mtime ?? st.mtimeMs / 1000;
      const mode = c.mode ?? st.mode & 0o7777;
      if (st.isDirectory()) out.push({ ...base, type: 'dir', mode, mtime, size: 0 });
      else if (st.isSymbolicLink()) out.push({ ...base, type: 'symlink', mode, mtime, size: 0, linkname: c.linkname ?? (await readlink(c.source)) });
      else if (st.isFile()) out.push({ ...base, type: 'file', mode, mtime, size: st.size, source: { path: c.source } });
      else throw new Error(`COPY source ${c.source} is not a file, directory or symlink`);
      continue;
    }
    const mtime = c.mtime ?? 0;
    const type = c.type ?? (c.source === undefined ? 'dir' : 'file');
    if (type === 'file') {
      if (c.source === undefined) throw new Error(`COPY entry ${c.dest} is a file without a source`);
      if (Buffer.isBuffer(c.source)) out.push({ ...base, type, mode: c.mode ?? 0o644, mtime, size: c.source.length, source: { data: c.source } });
      else out.push({ ...base, type, mode: c.mode ?? 0o644, mtime, size: c.source.size, source: { open: c.source.open } });
    } else if (type === 'symlink') {
      if (c.linkname === undefined) throw new Error(`COPY entry ${c.dest} is a symlink without a target`);
      out.push({ ...base, type, mode: c.mode ?? 0o777, mtime, size: 0, linkname: c.linkname });
    } else {
      out.push({ ...base, type: 'dir', mode: c.mode ?? 0o755, mtime, size: 0 });
    }
  }
  return out;
}

/** A layer holding exactly `entries` (COPY/ADD), or undefined when there are none. */
export async function layerFromEntries(entries: readonly CopyEntry[], opts: WriteLayerOptions = {}): Promise<LayerResult | undefined> {
  return writeLayer(await copyChanges(entries), opts);
}
