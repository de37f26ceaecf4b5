/**
 * The light part of slipway's public API: what the CLI needs before it knows that it
 * will stay in this process. Errors, and the rootless re-exec decision (build-mode
 * detection and the user-namespace re-exec). Importing this module loads none of the
 * heavy modules (store, registry client, dockerfile, plan, snapshot, build), so a rootless
 * `slipway build` decides to re-execute itself in a user namespace from a small outer
 * process. The CLI imports this module and src/index.ts, nothing else; the names here are
 * the same bindings src/index.ts exports.
 */
export { SlipwayError, UsageError, errorMessage } from './oci/errors.js';
export { ensureUserNamespace, USERNS_ENV } from './runtime/userns.js';
export { detectBuildMode } from './runtime/modes/detect.js';
