export const MediaType = {
  OCI_MANIFEST: 'application/vnd.oci.image.manifest.v1+json',
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  OCI_CONFIG: 'application/vnd.oci.image.config.v1+json',
  OCI_LAYER: 'application/vnd.oci.image.layer.v1.tar',
  OCI_LAYER_GZIP: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OCI_LAYER_ZSTD: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OCI_LAYER_NONDIST: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OCI_LAYER_NONDIST_GZIP: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OCI_LAYER_NONDIST_ZSTD: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OCI_EMPTY: 'application/vnd.oci.empty.v1+json',
  DOCKER_MANIFEST: 'application/vnd.docker.distribution.manifest.v2+json',
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DOCKER_CONFIG: 'application/vnd.docker.container.image.v1+json',
  DOCKER_LAYER_GZIP: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DOCKER_LAYER_FOREIGN_GZIP: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type MediaTypeName = (typeof MediaType)[keyof typeof MediaType];

export const MANIFEST_TYPES: readonly string[] = [MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST];
export const INDEX_TYPES: readonly string[] = [MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST];
export const CONFIG_TYPES: readonly string[] = [MediaType.OCI_CONFIG, MediaType.DOCKER_CONFIG];

export function isManifest(mt: string | undefined): boolean {
  return mt !== undefined && MANIFEST_TYPES.includes(mt);
}
export function isIndex(mt: string | undefined): boolean {
  return mt !== undefined && INDEX_TYPES.includes(mt);
}

export type Compression = 'gzip' | 'zstd' | 'none';

/** Compression implied by a layer media type (content must still be sniffed by magic bytes). */
export function layerCompression(mt: string): Compression | undefined {
  if (mt.endsWith('+gzip') || mt.endsWith('.tar.gzip')) return 'gzip';
  if (mt.endsWith('+zstd')) return 'zstd';
  if (mt.endsWith('.tar')) return 'none';
  return undefined;
}

export function ociLayerMediaType(c: Compression): string {
  switch (c) {
    case 'gzip': return MediaType.OCI_LAYER_GZIP;
    case 'zstd': return MediaType.OCI_LAYER_ZSTD;
    case 'none': return MediaType.OCI_LAYER;
  }
}

/** Accept header for manifest GET/HEAD: every manifest and index type we read. */
export const MANIFEST_ACCEPT = [
  MediaType.OCI_INDEX, MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST_LIST, MediaType.DOCKER_MANIFEST,
].join(', ');
