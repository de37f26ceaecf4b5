export type * from './options.js';
export {
  parseBuildArgs,
  parseSecretSpec,
  parseSshSpec,
  parseBuildTimestamp,
  parseBuildJobs,
  parseKeyValueFlags,
} from './flags.js';
export { build, BuildInputError } from './build.js';
export type { CacheRecord } from './cache.js';
