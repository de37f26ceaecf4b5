import { mkdir, rm } from 'node:fs/promises';
import { storedLayer, type Layer } from '../image/index.js';
import { writeLayer, type LayerResult } from '../snapshot/layer-writer.js';
import type { LayerEntry as SnapshotEntry } from '../snapshot/changes.js';
import type { ExecContext } from './context.js';
import type { LayerEntry } from './copy/entries.js';

/** COPY entries in the snapshot layer writer's terms. */
export function toSnapshotEntries(entries: readonly LayerEntry[]): SnapshotEntry[] {
  return entries.map((e) => {
    const out: SnapshotEntry = { path: e.path, type: e.type === 'hardlink' ? 'hardlink' : e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.type === 'file' ? e.size : 0 };
    if (e.linkname !== undefined) out.linkname = e.linkname;
    if (e.type === 'file') out.source = e.data !== undefined ? { data: e.data } : { path: e.source as string };
    return out;
  });
}

/**
 * Moves a written layer file into the local store by rename (no second copy); returns the
 * stored layer. The layer writer created the file exclusively under the store root's tmp/
 * and computed its digest in the one pass that wrote it, so that digest is the verification
 * (see LayoutStore.adoptFile).
 */
export async function storeLayerResult(ctx: ExecContext, written: LayerResult): Promise<Layer> {
  try {
    if (!(await ctx.store.exists(written.descriptor))) await ctx.store.adoptFile(written.descriptor, written.path, { hashedWhileWritten: true });
  } finally {
    await rm(written.path, { force: true });
  }
  return storedLayer(ctx.store, written.descriptor, written.diffId);
}

/** Writes entries as a layer blob into the local store; undefined when there is nothing to write. */
export async function commitEntries(ctx: ExecContext, entries: readonly LayerEntry[]): Promise<Layer | undefined> {
  await mkdir(ctx.paths.tmp, { recursive: true });
  const written = await writeLayer(toSnapshotEntries(entries), {
    compression: ctx.options.compression ?? 'gzip',
    ...(ctx.options.compressionLevel !== undefined ? { level: ctx.options.compressionLevel } : {}),
    tmpDir: ctx.paths.tmp,
    ...(ctx.clamp !== undefined ? { timestamp: ctx.clamp } : {}),
  });
  return written === undefined ? undefined : storeLayerResult(ctx, written);
}
