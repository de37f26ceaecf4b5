import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/index.js';

/**
 * What the image module reads blobs from. Every Store (src/store) satisfies it;
 * it is declared here because image/ sits below store/.
 */
export interface ImageBlobReader {
  readonly name: string;
  /** Fresh stream of the blob, verified against the descriptor as it is read. */
  fetch(desc: Descriptor): Promise<Readable>;
  /** Whole blob in memory, verified: manifests, indexes and configs. */
  fetchBytes(desc: Descriptor): Promise<Buffer>;
}

export interface ImageSource extends ImageBlobReader {
  /** Descriptor of the manifest or index `ref` names. */
  resolve(ref: string): Promise<Descriptor>;
}
