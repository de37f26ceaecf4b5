import { SlipwayError } from '../oci/index.js';

/** A layer archive that cannot be read: truncated, corrupt, or not a tar at all. */
export class LayerCorruptError extends SlipwayError {
  constructor(readonly layer: string, why: string, cause?: unknown) {
    super('LAYER_CORRUPT', `reading layer ${layer}: ${why}`, {
      hint: 'the layer blob is damaged or not an image layer; pull the image again or rebuild it',
      cause,
    });
  }
}

/** A layer entry that would escape the root or is otherwise refused (hostile or absurd input). */
export class LayerUnsafeError extends SlipwayError {
  constructor(readonly layer: string, readonly entry: string, why: string) {
    super('LAYER_UNSAFE', `refusing layer ${layer}: entry ${JSON.stringify(entry)} ${why}`, {
      hint: 'the image contains a hostile or broken layer; nothing was written outside the target directory',
    });
  }
}

/** Compression that slipway cannot read or write (or whose tool is missing). */
export class UnsupportedCompressionError extends SlipwayError {
  constructor(what: string, hint: string) {
    super('UNSUPPORTED_COMPRESSION', what, { hint });
  }
}

/** Reading a directory tree for a diff failed (overlay features we cannot translate, I/O errors). */
export class SnapshotError extends SlipwayError {
  constructor(message: string, hint: string, cause?: unknown) {
    super('SNAPSHOT_FAILED', message, { hint, cause });
  }
}
