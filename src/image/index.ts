export type { Layer } from './layer.js';
export type { ImageBlobReader, ImageSource } from './source.js';
export { Image } from './image.js';
export { InvalidImageError } from './errors.js';
export { storedLayer, memoryLayer, ociLayerDescriptor } from './layers.js';
export { loadImage, readImageIndex, resolvePlatformManifest, type LoadImageOptions } from './load.js';
export { validateImage, imageProblems, manifestProblems } from './validate.js';
export { makeImageIndex, type BuiltIndex } from './image-index.js';
