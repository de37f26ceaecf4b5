import {
  hostPlatform, isIndex, isManifest, selectManifest,
  type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform,
} from '../oci/index.js';
import { InvalidImageError } from './errors.js';
import { Image } from './image.js';
import { storedLayer } from './layers.js';
import type { ImageBlobReader, ImageSource } from './source.js';
import { manifestProblems } from './validate.js';

export interface LoadImageOptions {
  /** Platform to pick from an index (default: the host's). */
  platform?: Platform;
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    throw new InvalidImageError(what, [`not valid JSON: ${(e as Error).message}`]);
  }
}

/** Reads and parses an index blob. */
export async function readImageIndex(source: ImageBlobReader, desc: Descriptor): Promise<ImageIndex> {
  const idx = parseJson<ImageIndex>(await source.fetchBytes(desc), `${source.name} index ${desc.digest}`);
  if (idx.schemaVersion !== 2 || !Array.isArray(idx.manifests)) throw new InvalidImageError(`${source.name} index ${desc.digest}`, ['not an image index (schemaVersion 2, manifests[])']);
  return idx;
}

/**
 * Follows `desc` through indexes (picking `platform`, default the host's) down
 * to an image manifest; returns the manifest's descriptor.
 */
export async function resolvePlatformManifest(source: ImageBlobReader, desc: Descriptor, platform: Platform = hostPlatform(), label = source.name): Promise<Descriptor> {
  let cur = desc;
  for (let depth = 0; isIndex(cur.mediaType); depth++) {
    if (depth > 4) throw new InvalidImageError(label, ['indexes nested more than 4 deep']);
    const idx = await readImageIndex(source, cur);
    cur = selectManifest(idx.manifests.filter((m) => isManifest(m.mediaType) || isIndex(m.mediaType)), platform, label);
  }
  return cur;
}

/**
 * Loads the image `ref` (a name the source resolves, or a descriptor) from any
 * store: through an index to the platform's manifest, then manifest + config,
 * validated. Layers are openers on the source. Reads OCI and Docker v2s2.
 */
export async function loadImage(source: ImageSource, ref: string | Descriptor, opts: LoadImageOptions = {}): Promise<Image> {
  const top = typeof ref === 'string' ? await source.resolve(ref) : ref;
  const label = `${source.name} ${typeof ref === 'string' ? ref : ref.digest}`;
  const desc = await resolvePlatformManifest(source, top, opts.platform, label);
  const manifestBytes = await source.fetchBytes(desc);
  const manifest = parseJson<ImageManifest>(manifestBytes, label);
  const mediaType = manifest.mediaType ?? desc.mediaType;
  const early = manifestProblems(manifest, mediaType, undefined);
  if (early.length > 0) throw new InvalidImageError(label, early);
  const configBytes = await source.fetchBytes(manifest.config);
  const config = parseJson<ImageConfig>(configBytes, `${label} config`);
  const problems = manifestProblems(manifest, mediaType, config);
  if (problems.length > 0) throw new InvalidImageError(label, problems);
  const layers = manifest.layers.map((l, i) => storedLayer(source, l, config.rootfs.diff_ids[i] as string));
  return Image.fromStored({ manifest, manifestBytes, manifestMediaType: mediaType, config, configBytes, layers });
}
