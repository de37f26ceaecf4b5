/**
 * slipway's public API. The CLI (src/cli) imports only this module and its light parts (src/startup.ts, src/transfer.ts).
 * Each layer re-exports what the outside world may use; names must be unique across layers.
 */
export * from './oci/index.js';
export * from './image/index.js';
export * from './store/index.js';
export * from './dockerfile/index.js';
export * from './context/index.js';
export * from './plan/index.js';
export * from './runtime/index.js';
export * from './snapshot/index.js';
export * from './build/index.js';
