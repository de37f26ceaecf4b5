/**
 * snapshot: filesystem <-> layer tarballs (issue 5).
 *
 * Reading base images. The core lives here; build/rootfs.ts wraps it for the
 * executor (no separate build/unpack.ts is needed):
 *   const cache = new UnpackCache(join(storeRoot, 'layers'), { onWarning });
 *   await cache.lowerDirs(image.layers)       // overlay lowerdir= order (topmost first)
 *   await cache.materialize(image.layers, dir) // flat rootfs for vfs/copy and chroot
 *   await cache.ensure(layer, lowersBelow)     // one layer dir, unpacked once per diffID
 * Cache layout: <dir>/sha256/<diffID hex>/fs (the lower dir) + unpacked.json
 * (marker); built in <dir>/.tmp-* and renamed into place. Lower dirs carry
 * overlay whiteouts (0/0 char devices) and opaque xattrs: trusted.overlay.opaque
 * + user.overlay.opaque (+ user.fuseoverlayfs.opaque) as real root, the user.*
 * ones inside a user namespace (mount with the userxattr option there).
 * Each layer's uncompressed content is checked against its diffID.
 * `applyLayer(stream, root, {layer, mode: 'flatten'|'overlay'})` is the core:
 * image-spec changeset rules, chroot-like path resolution (symlinks followed
 * but never out of the root, final components never followed), hostile input
 * refused (LayerUnsafeError), broken archives reported (LayerCorruptError),
 * gzip (multi-member too) / zstd (system `zstd`) / plain sniffed by magic bytes,
 * device nodes skipped with a warning where mknod is not permitted.
 *
 * Writing layers (build steps); each returns `LayerResult | undefined`
 * (undefined = empty change set: record history with empty_layer: true):
 *   diffOverlay(upperDir, opts)          // RUN with overlay (mount with redirect_dir=off, metacopy=off);
 *                                        // streams a sorted walk into the writer (never holds the change set)
 *   diffTrees(beforeDir, afterDir, opts) // RUN without overlay: full scan; pass opts.since = step start (ms)
 *   layerFromEntries(copyEntries, opts)  // COPY/ADD: exactly the given files, no scan
 *   writeLayer(layerEntries, opts)       // the writer under all three (skips the sort when the
 *                                        // entries already come in layer order)
 * opts (WriteLayerOptions): compression 'gzip' (default) | 'zstd' | 'none', level,
 * timestamp (SOURCE_DATE_EPOCH: clamps every mtime, seconds), exclude (paths never
 * written, e.g. runtime.RUNTIME_EXCLUDED_PATHS), tmpDir (put it on the store's
 * filesystem), concurrency (gzip members in flight; default CPUs + 1, on the libuv pool:
 * the CLI should raise UV_THREADPOOL_SIZE on machines with more than 3 cores), blockSize.
 * LayerResult: { path (temp file: push it into the store, then delete it),
 * descriptor (mediaType, digest, size), diffId, uncompressedSize, entries }.
 * Output is reproducible: sorted entries, numeric ids only, no user/group
 * names, fixed PAX header names, gzip members with mtime 0 and OS byte 255.
 * xattrs (security.capability, user.*) are read/written with the attr tools
 * (getfattr/setfattr): one process per tree or layer, not per file.
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
export { readTar } from './tar-reader.js';
export type { TarEntry } from './tar-reader.js';
export { writeLayer } from './layer-writer.js';
export type { LayerResult, WriteLayerOptions } from './layer-writer.js';
export { UnpackCache } from './unpack-cache.js';
export type { UnpackCacheOptions } from './unpack-cache.js';
