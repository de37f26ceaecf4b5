export * from './types.js';
export { createPlan, UnknownTargetError } from './create-plan.js';
export { resolveCacheKeys, type ContentHasher } from './resolve-keys.js';
export { cacheKeyOf } from './cache-key.js';
export { PROXY_ARGS, BUILTIN_ARGS } from './args.js';
