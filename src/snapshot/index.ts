/**
 * snapshot: filesystem <-> layer tarballs.
 *
 * Reading base images (used by build/ via `UnpackCache`):
 *   const cache = new UnpackCache(join(storeRoot, 'layers'));
 *   const lowers = await cache.lowerDirs(image.layers);   // overlay lowerdir= order (top first)
 *   await cache.materialize(image.layers, rootfsDir);     // flat copy for vfs/chroot
 *   await cache.ensure(layer, lowersBelow)                // one layer dir, unpacked once per diffID
 * `applyLayer(stream, root, {layer, mode})` is the core: image-spec changeset
 * rules, chroot-like path resolution, hostile input refused (LayerUnsafeError),
 * broken archives reported (LayerCorruptError), gzip/zstd/plain sniffed.
 *
 * Writing layers (used by build/ steps); each returns `LayerResult | undefined`
 * (undefined = empty change set, record history with empty_layer: true):
 *   diffOverlay(upperDir, opts)          // RUN with overlay: upper dir -> OCI whiteouts
 *   diffTrees(beforeDir, afterDir, opts) // RUN without overlay: full scan (opts.since = step start, ms)
 *   layerFromEntries(copyEntries, opts)  // COPY/ADD: the given files, no scan
 * opts (WriteLayerOptions): compression 'gzip'|'zstd'|'none', level, timestamp
 * (SOURCE_DATE_EPOCH clamp, seconds), exclude (runtime-injected paths such as
 * etc/hosts), tmpDir (put it on the store's filesystem), concurrency.
 * LayerResult: { path (temp file: ingest into the store, then delete), descriptor
 * (mediaType, digest, size), diffId, uncompressedSize, entries }.
 */
export { applyLayer, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './apply.js';
export type { ApplyOptions, ApplyResult } from './apply.js';
export type { LayerEntry, ContentSource } from './changes.js';
export { sniffCompression, decompressed } from './compression.js';
export { copyChanges, layerFromEntries } from './copy-entries.js';
export type { CopyEntry } from './copy-entries.js';
export { diffOverlay, overlayChanges } from './diff-overlay.js';
export { diffTrees, treeChanges } from './diff-trees.js';
export type { DiffTreesOptions } from './diff-trees.js';
export { LayerCorruptError, LayerUnsafeError, SnapshotError, UnsupportedCompressionError } from './errors.js';
export { writeLayer } from './layer-writer.js';
export type { LayerResult, WriteLayerOptions } from './layer-writer.js';
export { UnpackCache } from './unpack-cache.js';
export type { UnpackCacheOptions } from './unpack-cache.js';
