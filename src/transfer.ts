/**
 * The part of slipway's public API that moves and lists images: references, platforms and
 * digests (oci), the local store, the registry client, copy() and outputs (store). The same
 * bindings src/index.ts exports, without the build machinery (dockerfile, context, plan,
 * runtime, snapshot, build). The CLI's pull, push, inspect, login and logout import this module
 * instead of index.ts: in the CLI bundle, loading index.ts starts every module of slipway
 * (~10 ms, with child_process, zlib and tar-stream), a tenth of a small pull.
 */
export * from './oci/index.js';
export * from './store/index.js';
