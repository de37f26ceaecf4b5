export * from './errors.js';
export * from './media-types.js';
export * from './types.js';
export * from './digest.js';
export * from './reference.js';
export * from './platform.js';
