import { DOCKER_HUB, type Reference } from '../../oci/index.js';
import { BlobSources } from './blob-sources.js';
import { RegistryClient, type RegistryClientOptions } from './client.js';
import { findCredentials } from './credentials.js';
import { RegistryRepository } from './repository.js';
import type { UploadLimits } from './upload.js';

export interface RegistrySessionOptions extends Omit<RegistryClientOptions, 'credentials'> {
  /** Environment for credential lookup (HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE...). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Override the credential chain (tests, library users with their own secrets). */
  credentials?: RegistryClientOptions['credentials'];
  /** Pull mirrors by registry (from the registries config): docker.io -> [hosts]. */
  mirrors?: Record<string, readonly string[]>;
  /** File that remembers which repositories hold which blobs (cross-repo mount hints). */
  blobSourcesFile?: string;
  limits?: UploadLimits;
}

/**
 * Shared state for talking to registries in one process: one client (connection pool, auth,
 * token cache) per registry host, plus cross-repository mount hints. Call close() when done.
 */
export class RegistrySession {
  private readonly clients = new Map<string, RegistryClient>();
  readonly blobSources: BlobSources;

  constructor(private readonly opts: RegistrySessionOptions = {}) {
    this.blobSources = new BlobSources(opts.blobSourcesFile);
  }

  client(registry: string): RegistryClient {
    let c = this.clients.get(registry);
    if (!c) {
      const env = this.opts.env ?? process.env;
      c = new RegistryClient(registry, {
        ...this.opts,
        credentials: this.opts.credentials ?? (async (r) => (await findCredentials(r, env))?.credentials),
      });
      this.clients.set(registry, c);
    }
    return c;
  }

  /** A Store for the repository `ref` names. `access: 'pull'` reads through mirrors. */
  repository(ref: Reference, access: 'pull' | 'push'): RegistryRepository {
    const client = this.client(ref.registry);
    const mirrors = access === 'pull' ? (this.opts.mirrors?.[ref.registry] ?? (ref.registry === DOCKER_HUB ? this.opts.mirrors?.['index.docker.io'] : undefined) ?? []) : [];
    const readClients = mirrors.length > 0 ? [...mirrors.map((m) => this.client(m)), client] : [client];
    return new RegistryRepository(client, ref.repository, {
      access,
      readClients,
      blobSources: this.blobSources,
      ...(this.opts.limits ? { limits: this.opts.limits } : {}),
    });
  }

  async close(): Promise<void> {
    this.blobSources.save();
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}
