export type { BlobSource, BlobWriter, ReadableStore, Store } from './store.js';
export { RefNotFoundError, BlobNotFoundError, StoreError } from './errors.js';
export { localStoreRoot, storePaths, type StorePaths } from './paths.js';
export { withFileLock, pidAlive, type LockOptions } from './lock.js';
export { createLimiter, type Limiter } from './limit.js';
export { LayoutStore, sniffMediaType, type LayoutEntry, type GcResult, type LayoutStoreOptions } from './layout-store.js';
export { copy, describePlatformChoice, UnsupportedManifestError, type CopyEvent, type CopyOptions, type CopyResult } from './copy.js';
export * from './registry/index.js';
export { ImageValuesSource, writeImage } from './image-source.js';
export { parseOutputSpec, type OutputSpec, type OutputType } from './output-spec.js';
export { atomicFile, type AtomicFile } from './atomic-file.js';
export { TarBlobWriter } from './tar-writer.js';
export {
  writeOutput, writeOciLayoutDir, writeOciArchive, writeDockerArchive, UnsupportedOutputError, ANNOTATION_CONTAINERD_NAME,
  type WriteOutputOptions, type OutputResult,
} from './output.js';
export { listImageSummaries, type ImageSummary } from './list-images.js';
