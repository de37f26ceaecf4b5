import type { Readable } from 'node:stream';
import type { Descriptor, Digest } from '../oci/index.js';

/**
 * A layer as an image holds it. Opener semantics: every `open()` gives a fresh
 * stream of the stored (usually compressed) bytes, verified against
 * `descriptor.digest` as they are read (the stream errors with
 * DigestMismatchError at its end if they do not match).
 */
export interface Layer {
  /** Descriptor of the blob as stored (mediaType, digest of stored bytes, size). */
  readonly descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the config's rootfs.diff_ids entry. */
  readonly diffId: Digest;
  open(): Promise<Readable>;
}
