import { Readable } from 'node:stream';
import { isDigest, type Descriptor } from '../oci/index.js';
import { Image, type BuiltIndex, type Layer } from '../image/index.js';
import { copy, type CopyOptions, type CopyResult } from './copy.js';
import { BlobNotFoundError, RefNotFoundError } from './errors.js';
import type { ReadableStore, Store } from './store.js';

type Blob = { bytes: Buffer } | { layer: Layer };

/**
 * A read-only store over in-memory Image values (and optionally an index over
 * them), so a built image goes to any Store through the same copy().
 * resolve() answers any ref with the root (the index, else the first image).
 */
export class ImageValuesSource implements ReadableStore {
  private readonly blobs = new Map<string, Blob>();
  private readonly root: Descriptor;

  constructor(images: readonly Image[], index?: BuiltIndex, readonly name = 'built image') {
    for (const img of images) {
      this.blobs.set(img.digest, { bytes: img.manifestBytes });
      this.blobs.set(img.configDescriptor.digest, { bytes: img.configBytes });
      for (const l of img.layers) this.blobs.set(l.descriptor.digest, { layer: l });
    }
    if (index !== undefined) this.blobs.set(index.descriptor.digest, { bytes: index.bytes });
    const first = images[0];
    if (index === undefined && first === undefined) throw new Error('ImageValuesSource needs an image or an index');
    this.root = index?.descriptor ?? (first as Image).descriptor;
  }

  async resolve(ref: string): Promise<Descriptor> {
    if (isDigest(ref) && ref !== this.root.digest) throw new RefNotFoundError(ref, this.name);
    return this.root;
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.blobs.has(desc.digest);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const b = this.blobs.get(desc.digest);
    if (b === undefined) throw new BlobNotFoundError(desc.digest, this.name);
    return 'bytes' in b ? Readable.from([b.bytes]) : b.layer.open();
  }

  async fetchBytes(desc: Descriptor): Promise<Buffer> {
    const b = this.blobs.get(desc.digest);
    if (b === undefined) throw new BlobNotFoundError(desc.digest, this.name);
    if ('bytes' in b) return b.bytes;
    const parts: Buffer[] = [];
    for await (const c of await b.layer.open()) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }
}

/**
 * Writes an image (or several images under an index) to `dst` and tags it
 * `ref` there: layers, config, manifest, index, tag; blobs dst has are skipped.
 */
export function writeImage(dst: Store, image: Image | { images: readonly Image[]; index: BuiltIndex }, ref: string | undefined, opts: CopyOptions = {}): Promise<CopyResult> {
  const src = image instanceof Image ? new ImageValuesSource([image]) : new ImageValuesSource(image.images, image.index);
  return copy(src, 'root', dst, ref, { ...opts, platform: opts.platform ?? 'all' });
}
