import { lstatSync, readlinkSync } from 'node:fs';
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
  // one object literal shape per entry (no spreads): a large COPY makes many of them
  const entry = (c: CopyEntry, path: string, type: LayerEntry['type'], mode: number, mtime: number, size: number): LayerEntry =>
    ({ path, type, mode, uid: c.uid ?? 0, gid: c.gid ?? 0, mtime, size });
  for (const c of entries) {
    const path = normalizeRel(c.dest);
    if (path.split('/').includes('..')) throw new Error(`COPY destination ${c.dest} contains ".."`);
    if (typeof c.source === 'string') {
      const st = lstatSync(c.source); // synchronous: a thread-pool round trip per file costs more than the call
      const mtime = c.mtime ?? st.mtimeMs / 1000;
      const mode = c.mode ?? st.mode & 0o7777;
      if (st.isFile()) {
        const e = entry(c, path, 'file', mode, mtime, st.size);
        e.source = { path: c.source };
        out.push(e);
      } else if (st.isDirectory()) {
        out.push(entry(c, path, 'dir', mode, mtime, 0));
      } else if (st.isSymbolicLink()) {
        const e = entry(c, path, 'symlink', mode, mtime, 0);
        e.linkname = c.linkname ?? readlinkSync(c.source);
        out.push(e);
      } else {
        throw new Error(`COPY source ${c.source} is not a file, directory or symlink`);
      }
      continue;
    }
    const mtime = c.mtime ?? 0;
    const type = c.type ?? (c.source === undefined ? 'dir' : 'file');
    if (type === 'file') {
      if (c.source === undefined) throw new Error(`COPY entry ${c.dest} is a file without a source`);
      const data = Buffer.isBuffer(c.source) ? c.source : undefined;
      const e = entry(c, path, 'file', c.mode ?? 0o644, mtime, data !== undefined ? data.length : (c.source as { size: number }).size);
      e.source = data !== undefined ? { data } : { open: (c.source as { open(): Readable | Promise<Readable> }).open };
      out.push(e);
    } else if (type === 'symlink') {
      if (c.linkname === undefined) throw new Error(`COPY entry ${c.dest} is a symlink without a target`);
      const e = entry(c, path, 'symlink', c.mode ?? 0o777, mtime, 0);
      e.linkname = c.linkname;
      out.push(e);
    } else {
      out.push(entry(c, path, 'dir', c.mode ?? 0o755, mtime, 0));
    }
  }
  return out;
}

/** A layer holding exactly `entries` (COPY/ADD), or undefined when there are none. */
export async function layerFromEntries(entries: readonly CopyEntry[], opts: WriteLayerOptions = {}): Promise<LayerResult | undefined> {
  return writeLayer(await copyChanges(entries), opts);
}
