import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/index.js';

/** Where blobs can be read from. Every read is verified against the descriptor's digest and size. */
export interface BlobSource {
  /** Human-readable name for messages: a path or registry/repository. */
  readonly name: string;
  /** Fresh stream of the blob; errors (DigestMismatchError/SizeMismatchError) if the bytes do not match. */
  fetch(desc: Descriptor): Promise<Readable>;
  /** Whole blob in memory, verified: for manifests, indexes and configs only. */
  fetchBytes(desc: Descriptor): Promise<Buffer>;
  exists(desc: Descriptor): Promise<boolean>;
  /**
   * Optional: writes the blob's bytes to `writer`, exactly `desc.size` of them (a download that
   * breaks is resumed). The bytes are not hashed here and the writer is not committed: the
   * caller commits, and the writer's commit() verifies the digest. copy() uses it when the
   * destination has openBlobWriter(), so each byte is hashed once, by the writer.
   */
  fetchTo?(desc: Descriptor, writer: BlobWriter): Promise<void>;
}

/**
 * A blob being written into a store: its bytes in order, visible only after commit() found
 * them to match the descriptor (size and digest). Hashing is the writer's job.
 */
export interface BlobWriter {
  /** Takes the next chunk (kept until written: do not change it). false: wait for drain() before writing more. */
  write(chunk: Buffer): boolean;
  /** Resolves once the writer can take more; rejects when writing failed. */
  drain(): Promise<void>;
  /**
   * All bytes were written: waits for them to reach the file, checks size and digest
   * (SizeMismatchError/DigestMismatchError), makes the blob visible. On failure nothing is kept.
   */
  commit(): Promise<void>;
  /** Drops what was written. Safe after a failed commit. */
  abort(): Promise<void>;
}

/** What copy() needs from a source: blobs plus name resolution. */
export interface ReadableStore extends BlobSource {
  /** Descriptor of the manifest or index that `ref` names. Throws a typed not-found error. */
  resolve(ref: string): Promise<Descriptor>;
}

/**
 * One interface for the local store, an OCI layout directory and a registry
 * repository. `ref` is the store's own name for an image: a tag or digest for a
 * registry repository, the `org.opencontainers.image.ref.name` value for a layout.
 */
export interface Store extends ReadableStore {
  /** Stores a blob (or manifest/index, by its mediaType); verifies digest and size before it becomes visible. */
  push(desc: Descriptor, body: Readable | Uint8Array): Promise<void>;
  /**
   * Optional: stores a blob from a stream that verifies itself, so its bytes are hashed once.
   * `body` must be a `BlobSource.fetch(desc)` result (possibly passed through a transform that
   * forwards its errors and does not change bytes): such a stream errors with
   * DigestMismatchError/SizeMismatchError instead of ending when the bytes do not match `desc`.
   * The store does not hash again, but still makes the blob visible only after `body` ended
   * without error and delivered exactly `desc.size` bytes. copy() uses it when the destination
   * has it, push() otherwise.
   */
  pushVerified?(desc: Descriptor, body: Readable): Promise<void>;
  /**
   * Optional: a writer for one blob (see BlobWriter); `where` names the blob's origin in
   * mismatch errors ("blob sha256:... from registry/repo").
   */
  openBlobWriter?(desc: Descriptor, where?: string): Promise<BlobWriter>;
  /** Points `ref` at `desc` (a manifest or index already pushed). */
  tag(desc: Descriptor, ref: string): Promise<void>;
}
