/**
 * slipway's public API. The CLI (src/cli) imports only this module.
 * Each layer re-exports what the outside world may use.
 */
export * from './oci/index.js';
