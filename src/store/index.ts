export type { BlobSource, Store } from './store.js';
