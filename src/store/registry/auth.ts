import type { AuthChallenge } from './challenge.js';
import { basicAuthorization, type RegistryCredentials } from './credentials.js';

/** A bearer token and when to stop using it. */
export interface BearerToken {
  token: string;
  expiresAt: number;
}

/** Fetches a token from the realm of a bearer challenge for the given scopes. */
export type TokenFetcher = (challenge: AuthChallenge, scopes: readonly string[], creds: RegistryCredentials | undefined) => Promise<BearerToken>;

/** `repository:<name>:<actions>` */
export function repositoryScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}

/**
 * Authorization for one registry: remembers the scheme the registry asked for, caches bearer
 * tokens per scope set until shortly before they expire, and dedupes concurrent token requests.
 * Holds secrets: never log or serialize it.
 */
export class RegistryAuthorizer {
  private challenge: AuthChallenge | undefined;
  private readonly tokens = new Map<string, BearerToken>();
  private readonly pending = new Map<string, Promise<BearerToken>>();
  private credsPromise: Promise<RegistryCredentials | undefined> | undefined;

  constructor(
    private readonly lookup: () => Promise<RegistryCredentials | undefined>,
    private readonly fetchToken: TokenFetcher,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records what the registry asked for (from the ping or a 401). */
  setChallenge(c: AuthChallenge | undefined): void {
    this.challenge = c;
  }

  get scheme(): 'basic' | 'bearer' | 'none' {
    return this.challenge?.scheme ?? 'none';
  }

  credentials(): Promise<RegistryCredentials | undefined> {
    this.credsPromise ??= this.lookup();
    return this.credsPromise;
  }

  /** Authorization header value for a request needing `scopes`, or undefined for anonymous. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      const creds = await this.credentials();
      return creds ? basicAuthorization(creds) : undefined;
    }
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.token}`;
    let p = this.pending.get(key);
    if (!p) {
      p = (async () => this.fetchToken(c, scopes, await this.credentials()))();
      this.pending.set(key, p);
      p.then(
        (t) => {
          this.tokens.set(key, t);
          this.pending.delete(key);
        },
        () => this.pending.delete(key),
      );
    }
    return `Bearer ${(await p).token}`;
  }

  /** Drops the cached token for `scopes` (after the registry refused it). */
  invalidate(scopes: readonly string[]): void {
    this.tokens.delete(scopeKey(scopes));
  }
}

/** Parses a token server answer: `token` or `access_token`, `expires_in` seconds (default 60). */
export function parseTokenResponse(json: unknown, now: number = Date.now()): BearerToken | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const o = json as { token?: unknown; access_token?: unknown; expires_in?: unknown };
  const token = typeof o.token === 'string' && o.token !== '' ? o.token : typeof o.access_token === 'string' ? o.access_token : undefined;
  if (!token) return undefined;
  const ttl = typeof o.expires_in === 'number' && o.expires_in > 0 ? o.expires_in : 60;
  // renew 10% (at least 5 s) early so a token never expires in flight
  const margin = Math.max(5, ttl * 0.1);
  return { token, expiresAt: now + Math.max(1, ttl - margin) * 1000 };
}
