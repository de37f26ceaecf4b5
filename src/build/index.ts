export type * from './options.js';
export {
  parseBuildArgs,
  parseSecretSpec,
  parseSshSpec,
  parseOutputSpec,
  parseBuildTimestamp,
  parseBuildJobs,
  parseKeyValueFlags,
} from './flags.js';
