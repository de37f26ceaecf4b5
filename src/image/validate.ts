import {
  CONFIG_TYPES, MediaType, isDigest, isIndex, isManifest, layerCompression,
  type ImageConfig, type ImageManifest,
} from '../oci/index.js';
import { InvalidImageError } from './errors.js';
import type { Image } from './image.js';

const OCI_LAYER_TYPES = new Set<string>([
  MediaType.OCI_LAYER, MediaType.OCI_LAYER_GZIP, MediaType.OCI_LAYER_ZSTD,
  MediaType.OCI_LAYER_NONDIST, MediaType.OCI_LAYER_NONDIST_GZIP, MediaType.OCI_LAYER_NONDIST_ZSTD,
]);
const DOCKER_LAYER_TYPES = new Set<string>([MediaType.DOCKER_LAYER_GZIP, MediaType.DOCKER_LAYER_FOREIGN_GZIP]);

/** Problems with a manifest + config pair as parsed from JSON (empty when valid). */
export function manifestProblems(manifest: ImageManifest, manifestMediaType: string, config: ImageConfig | undefined): string[] {
  const p: string[] = [];
  if (manifest.schemaVersion !== 2) p.push(`manifest schemaVersion is ${String(manifest.schemaVersion)}, want 2`);
  if (!isManifest(manifestMediaType)) p.push(`media type ${manifestMediaType} is not an image manifest`);
  if (manifest.mediaType !== undefined && manifest.mediaType !== manifestMediaType) {
    p.push(`manifest says mediaType ${manifest.mediaType} but was served as ${manifestMediaType}`);
  }
  const docker = manifestMediaType === MediaType.DOCKER_MANIFEST;
  if (typeof manifest.config !== 'object' || manifest.config === null) {
    p.push('manifest has no config descriptor');
    return p;
  }
  if (!CONFIG_TYPES.includes(manifest.config.mediaType)) p.push(`config media type ${manifest.config.mediaType} is not an image config`);
  else if (docker !== (manifest.config.mediaType === MediaType.DOCKER_CONFIG)) p.push(`config media type ${manifest.config.mediaType} does not fit a ${docker ? 'Docker' : 'OCI'} manifest`);
  if (!Array.isArray(manifest.layers)) {
    p.push('manifest has no layers array');
    return p;
  }
  manifest.layers.forEach((l, i) => {
    if (!isDigest(l.digest)) p.push(`layer ${i} has an invalid digest ${String(l.digest)}`);
    if (!Number.isInteger(l.size) || l.size < 0) p.push(`layer ${i} has an invalid size ${String(l.size)}`);
    const known = docker ? DOCKER_LAYER_TYPES.has(l.mediaType) || OCI_LAYER_TYPES.has(l.mediaType) : OCI_LAYER_TYPES.has(l.mediaType);
    if (!known || layerCompression(l.mediaType) === undefined) p.push(`layer ${i} has media type ${l.mediaType}, not a layer type`);
  });
  if (config === undefined) return p;
  if (config.rootfs?.type !== 'layers') p.push(`config rootfs.type is ${String(config.rootfs?.type)}, want "layers"`);
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) p.push(`config has ${diffIds.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
  diffIds.forEach((d, i) => {
    if (!isDigest(d)) p.push(`diff_ids[${i}] is not a digest: ${String(d)}`);
  });
  if (typeof config.os !== 'string' || config.os === '') p.push('config has no os');
  if (typeof config.architecture !== 'string' || config.architecture === '') p.push('config has no architecture');
  if (config.history !== undefined) {
    const withLayer = config.history.filter((h) => h.empty_layer !== true).length;
    if (withLayer !== manifest.layers.length) p.push(`config history has ${withLayer} non-empty entries but the image has ${manifest.layers.length} layers`);
  }
  return p;
}

/** Problems with an image value (empty when valid): manifest/config/layers agree, digests and media types are sane. */
export function imageProblems(image: Image): string[] {
  const p = manifestProblems(image.manifest, image.mediaType, image.config);
  if (image.manifest.config.digest !== image.configDescriptor.digest) p.push('manifest config digest does not match the config bytes');
  if (image.manifest.config.size !== image.configBytes.length) p.push('manifest config size does not match the config bytes');
  if (image.layers.length !== image.manifest.layers.length) p.push('layer objects and manifest layers differ in number');
  image.layers.forEach((l, i) => {
    const m = image.manifest.layers[i];
    if (m !== undefined && m.digest !== l.descriptor.digest) p.push(`layer ${i} digest differs between manifest and layer`);
    if (image.diffIds[i] !== undefined && image.diffIds[i] !== l.diffId) p.push(`layer ${i} diffID differs between config and layer`);
  });
  if (isIndex(image.mediaType)) p.push('an index is not an image');
  return p;
}

/** Throws InvalidImageError listing every problem. */
export function validateImage(image: Image, where = 'image'): void {
  const p = imageProblems(image);
  if (p.length > 0) throw new InvalidImageError(where, p);
}
