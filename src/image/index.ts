export type { Layer } from './layer.js';
