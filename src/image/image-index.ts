import { MediaType, digestOf, type Annotations, type Descriptor, type ImageIndex } from '../oci/index.js';
import { Image } from './image.js';

/** An index value with its exact bytes. */
export interface BuiltIndex {
  index: ImageIndex;
  bytes: Buffer;
  descriptor: Descriptor;
}

/** An OCI image index over images (or manifest descriptors carrying platform). */
export function makeImageIndex(entries: ReadonlyArray<Image | Descriptor>, annotations?: Annotations): BuiltIndex {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: entries.map((e) => (e instanceof Image ? e.descriptor : { ...e })),
  };
  if (annotations !== undefined && Object.keys(annotations).length > 0) index.annotations = { ...annotations };
  const bytes = Buffer.from(JSON.stringify(index));
  return { index, bytes, descriptor: { mediaType: MediaType.OCI_INDEX, digest: digestOf(bytes), size: bytes.length } };
}
