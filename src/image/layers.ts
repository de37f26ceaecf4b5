import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { MediaType, digestOf, verifyBytes, type Descriptor, type Digest } from '../oci/index.js';
import type { Layer } from './layer.js';
import type { ImageBlobReader } from './source.js';

/** A layer whose bytes live in a store: each open() fetches (and verifies) them again. */
export function storedLayer(source: ImageBlobReader, descriptor: Descriptor, diffId: Digest): Layer {
  return Object.freeze({
    descriptor: Object.freeze({ ...descriptor }),
    diffId,
    open: () => source.fetch(descriptor),
  });
}

/**
 * A small layer held in memory (tests, generated files): `tar` is the
 * uncompressed tar; it is stored gzip-compressed unless `compression` is 'none'.
 */
export function memoryLayer(tar: Uint8Array, compression: 'gzip' | 'none' = 'gzip'): Layer {
  const blob = compression === 'gzip' ? gzipSync(tar, { level: 6 }) : Buffer.from(tar);
  const descriptor: Descriptor = {
    mediaType: compression === 'gzip' ? MediaType.OCI_LAYER_GZIP : MediaType.OCI_LAYER,
    digest: digestOf(blob),
    size: blob.length,
  };
  return Object.freeze({
    descriptor: Object.freeze(descriptor),
    diffId: digestOf(tar),
    open: async () => {
      verifyBytes(blob, descriptor.digest, descriptor.size, `in-memory layer ${descriptor.digest}`);
      return Readable.from([blob]);
    },
  });
}

const DOCKER_TO_OCI_LAYER: Record<string, string> = {
  [MediaType.DOCKER_LAYER_GZIP]: MediaType.OCI_LAYER_GZIP,
  [MediaType.DOCKER_LAYER_FOREIGN_GZIP]: MediaType.OCI_LAYER_NONDIST_GZIP,
};

/** The OCI media type for a layer descriptor (Docker v2s2 types mapped; the bytes are the same). */
export function ociLayerDescriptor(d: Descriptor): Descriptor {
  const mt = DOCKER_TO_OCI_LAYER[d.mediaType];
  return mt === undefined ? { ...d } : { ...d, mediaType: mt };
}
