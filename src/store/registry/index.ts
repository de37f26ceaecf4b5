export * from './errors.js';
export * from './events.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
export { parseChallenges, type AuthChallenge } from './challenge.js';
export {
  authFileChain,
  findCredentials,
  loginAuthFile,
  removeCredentials,
  saveCredentials,
  type FoundCredentials,
  type RegistryCredentials,
} from './credentials.js';
export { loadRegistriesConfig, registriesConfigPath, RegistriesConfigError, type RegistriesConfig } from './config.js';
export { BlobSources, defaultBlobSourcesFile } from './blob-sources.js';
export { RegistryClient, type RegistryClientOptions } from './client.js';
export { RegistryRepository, type RegistryRepositoryOptions } from './repository.js';
export { DEFAULT_UPLOAD_LIMITS, type UploadLimits } from './upload.js';
export { RegistrySession, type RegistrySessionOptions } from './session.js';
