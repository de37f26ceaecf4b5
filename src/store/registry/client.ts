import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { DOCKER_HUB, SlipwayError, isLoopbackHost } from '../../oci/index.js';
import { RegistryAuthorizer, parseTokenResponse, type BearerToken } from './auth.js';
import { pickChallenge, type AuthChallenge } from './challenge.js';
import { IDENTITY_TOKEN_USER, basicAuthorization, type RegistryCredentials } from './credentials.js';
import {
  RegistryHttpError,
  RegistryNotFoundError,
  RegistryProtocolError,
  RegistryRateLimitError,
  RegistryTlsError,
  RegistryUnauthorizedError,
  RegistryUnreachableError,
  parseRegistryErrors,
  type RegistryErrorContext,
} from './errors.js';
import type { RegistryEvent, RegistryEventListener } from './events.js';
import { machineRegistryTrust, registryTrustList } from './trust.js';
import { undici } from './undici.js';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  isRetriableNetworkError,
  isRetriableStatus,
  isTlsError,
  networkErrorCode,
  parseRetryAfter,
  sleep,
  type RetryPolicy,
} from './retry.js';

export type ResponseBody = Dispatcher.ResponseData['body'];

export interface RegistryClientOptions {
  /** Hosts (host[:port]) that may be spoken to over plain HTTP, or HTTPS without verification. */
  insecureRegistries?: readonly string[];
  /** Extra CA certificate files (PEM) trusted besides the system's. */
  tlsCaFiles?: readonly string[];
  /** Looks up credentials for a registry; default: anonymous. */
  credentials?: (registry: string) => Promise<RegistryCredentials | undefined>;
  retry?: RetryPolicy;
  onEvent?: RegistryEventListener;
  /** Parallel connections per origin (default 16). */
  connections?: number;
  userAgent?: string;
}

export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the registry base URL (`/v2/...`), or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  /** Replayable body (so a retry can send it again). */
  body?: Buffer;
  /** One-shot streamed body: the request is never retried or re-authenticated (set content-length). */
  stream?: Readable;
  /** Token scopes, e.g. `repository:a/b:pull`. */
  scopes: readonly string[];
  repository?: string;
  operation: string;
  /** Statuses returned to the caller instead of thrown (2xx are always returned). */
  accept?: readonly number[];
  /** Follow 3xx for GET/HEAD (blob downloads redirect to storage). */
  followRedirects?: boolean;
}

export interface RegistryResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
  /** Final URL (after redirects). */
  url: string;
}

/** First value of a response header. */
export function headerValue(res: { headers: Record<string, string | string[] | undefined> }, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function hostMatches(list: readonly string[], registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return list.some((h) => h === registry || h === host);
}

/** The host that serves the API: Docker Hub's API lives at registry-1.docker.io. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

const STATUS_TEXT_LIMIT = 64 * 1024;

/**
 * Distribution-spec HTTP client for one registry: picks https or http (ping), answers auth
 * challenges (basic, bearer with per-scope token cache), retries with backoff and jitter on
 * connection errors, 429 (Retry-After) and 5xx, follows redirects for downloads, and turns
 * failures into typed RegistryErrors. Safe to use concurrently.
 */
export class RegistryClient {
  readonly registry: string;
  private readonly apiHost: string;
  private readonly insecure: boolean;
  private readonly explicitInsecure: boolean;
  /** Ping over plain HTTP before HTTPS (see ping()). */
  private readonly httpFirst: boolean;
  /**
   * One agent for plain HTTP, one for HTTPS (its trust is worked out when the first TLS
   * connection is about to be made), each made on first use: undici loads only when a request
   * is sent, TLS only when an HTTPS one is.
   */
  private readonly agents = new Map<'http' | 'https', Promise<Agent>>();
  private readonly retry: RetryPolicy;
  private readonly auth: RegistryAuthorizer;
  private readonly userAgent: string;
  private base: Promise<string> | undefined;
  /** The refresh token a token server handed back in place of the identity token (in memory only). */
  private refreshToken: string | undefined;

  constructor(registry: string, private readonly opts: RegistryClientOptions = {}) {
    this.registry = registry;
    this.apiHost = registryApiHost(registry);
    this.explicitInsecure = hostMatches(opts.insecureRegistries ?? [], registry);
    this.insecure = this.explicitInsecure || isLoopbackHost(registry);
    this.httpFirst = isLoopbackHost(registry) && (opts.tlsCaFiles ?? []).length === 0;
    this.retry = opts.retry ?? DEFAULT_RETRY_POLICY;
    this.userAgent = opts.userAgent ?? 'slipway';
    const lookup = opts.credentials;
    this.auth = new RegistryAuthorizer(
      async () => (lookup ? lookup(registry) : undefined),
      (c, scopes, creds) => this.fetchToken(c, scopes, creds),
    );
  }

  private agent(kind: 'http' | 'https'): Promise<Agent> {
    let a = this.agents.get(kind);
    if (a === undefined) {
      a = undici().then((u) => this.makeAgent(u.Agent, kind));
      this.agents.set(kind, a);
    }
    return a;
  }

  private makeAgent(AgentClass: typeof Agent, kind: 'http' | 'https'): Agent {
    const opts = this.opts;
    const common = { connections: opts.connections ?? 16, keepAliveTimeout: 30_000 };
    if (kind === 'http') return new AgentClass(common);
    const extra = (opts.tlsCaFiles ?? []).map((f) => readFileSync(f, 'utf8'));
    // Node's bundled roots, the system CA bundle and $NODE_EXTRA_CA_CERTS (see trust.ts), plus
    // --tls-ca. Usually Node's own store holds all but --tls-ca: no `ca` list is parsed then.
    const ca = extra.length > 0 ? [...registryTrustList(), ...extra] : machineRegistryTrust();
    return new AgentClass({
      ...common,
      connect: {
        ...(ca === undefined ? {} : { ca }),
        ...(this.explicitInsecure ? { rejectUnauthorized: false } : {}),
      },
    });
  }

  private async http(opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    const origin = typeof opts.origin === 'string' ? opts.origin : opts.origin?.toString() ?? '';
    const [agent, u] = await Promise.all([this.agent(origin.startsWith('https:') ? 'https' : 'http'), undici()]);
    return u.request.call(agent, opts);
  }

  emit(e: RegistryEvent): void {
    this.opts.onEvent?.(e);
  }

  /** Drops every connection (requests still running fail). */
  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(agents.map(async (a) => (await a).destroy()));
  }

  /** `https://host` or `http://host`, decided once by pinging /v2/. */
  baseUrl(): Promise<string> {
    if (!this.base) {
      this.base = this.ping();
      // a failed ping is not remembered: the next request tries again
      this.base.catch(() => (this.base = undefined));
    }
    return this.base;
  }

  /** Whether credentials are configured for this registry (used by login). */
  credentials(): Promise<RegistryCredentials | undefined> {
    return this.auth.credentials();
  }

  private ctx(operation: string, repository?: string): RegistryErrorContext {
    return { registry: this.registry, operation, ...(repository === undefined ? {} : { repository }) };
  }

  private async pingAt(base: string, retries: boolean): Promise<Dispatcher.ResponseData> {
    const attempts = retries ? this.retry.attempts : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.http({
          origin: base, path: '/v2/', method: 'GET', headers: { 'user-agent': this.userAgent },
        });
        this.emit({ type: 'request', registry: this.registry, method: 'GET', path: '/v2/', status: res.statusCode, attempt });
        if (isRetriableStatus(res.statusCode) && attempt < attempts) {
          await res.body.dump();
          await sleep(backoffDelay(this.retry, attempt));
          continue;
        }
        return res;
      } catch (e) {
        if (attempt >= attempts || !isRetriableNetworkError(e)) throw e;
        await sleep(backoffDelay(this.retry, attempt));
      }
    }
  }

  private async ping(): Promise<string> {
    const ctx = this.ctx('pinging /v2/');
    const https = `https://${this.apiHost}`;
    let res: Dispatcher.ResponseData | undefined;
    let base = https;
    // docker semantics: insecure and loopback registries may speak plain HTTP when HTTPS fails.
    // For an --insecure-registry both are asked at once (HTTPS still wins when it answers), so a
    // plain-HTTP registry costs no failed TLS handshake before its first request.
    const http = `http://${this.apiHost}`;
    // (one attempt: nothing of it may outlive the HTTPS answer; the retries come after HTTPS failed)
    const plain = this.insecure ? this.pingAt(http, false) : undefined;
    plain?.catch(() => undefined);
    if (plain !== undefined && this.httpFirst) {
      // A loopback registry without --tls-ca: HTTPS is asked only if plain HTTP gets no registry
      // answer. One port speaks one of the two, so a 200 or 401 over HTTP means HTTPS would have
      // failed; and the HTTPS attempt alone costs ~20 ms (loading TLS, parsing Node's ~140 root
      // CAs for its context), a third of a small pull.
      const first = await plain.catch(() => undefined);
      if (first !== undefined && (first.statusCode === 200 || first.statusCode === 401)) return this.pinged(first, http, ctx);
    }
    try {
      res = await this.pingAt(https, !this.insecure);
      // not needed: free its connection (or let its failure go)
      plain?.then((r) => r.body.dump(), () => undefined).catch(() => undefined);
    } catch (e) {
      if (plain === undefined) throw this.networkError(ctx, e);
      try {
        const first = await plain.catch(() => undefined);
        if (first !== undefined && !isRetriableStatus(first.statusCode)) res = first;
        else {
          await first?.body.dump();
          res = await this.pingAt(http, true);
        }
        base = http;
      } catch {
        throw this.networkError(ctx, e);
      }
      if (res.statusCode !== 200 && res.statusCode !== 401) {
        await res.body.dump();
        throw this.networkError(ctx, e);
      }
    }
    return this.pinged(res, base, ctx);
  }

  /** Takes in the /v2/ answer `res` from `base`; returns `base`. */
  private async pinged(res: Dispatcher.ResponseData, base: string, ctx: RegistryErrorContext): Promise<string> {
    this.emit({ type: 'scheme', registry: this.registry, scheme: base.startsWith('https') ? 'https' : 'http' });
    if (res.statusCode === 401) {
      const challenge = pickChallenge(headerValue({ headers: res.headers }, 'www-authenticate'));
      this.auth.setChallenge(challenge);
      await res.body.dump();
      if (challenge?.scheme === 'basic') {
        this.emit({ type: 'auth', registry: this.registry, scheme: 'basic', authenticated: (await this.auth.credentials()) !== undefined });
      }
    } else if (res.statusCode === 200) {
      await res.body.dump();
    } else {
      const text = await res.body.text().catch(() => '');
      const entries = parseRegistryErrors(text);
      if (res.statusCode === 404) throw new RegistryProtocolError(ctx, 'GET /v2/ answered 404: this is not an OCI distribution registry');
      if (res.statusCode === 429) throw new RegistryRateLimitError(ctx, entries);
      throw new RegistryHttpError(ctx, res.statusCode, entries);
    }
    return base;
  }

  private networkError(ctx: RegistryErrorContext, e: unknown): Error {
    if (e instanceof RegistryUnreachableError || e instanceof RegistryTlsError) return e;
    const code = networkErrorCode(e) ?? 'error';
    const msg = e instanceof Error ? e.message : String(e);
    if (isTlsError(e)) return new RegistryTlsError(ctx, e, `${code}: ${msg}`);
    return new RegistryUnreachableError(ctx, e, `${code}: ${msg}`);
  }

  /** Verifies that the configured (or given) credentials are accepted. Throws RegistryUnauthorizedError. */
  async checkLogin(creds: RegistryCredentials): Promise<void> {
    const base = await this.baseUrl();
    const ctx = this.ctx('logging in');
    const scheme = this.auth.scheme;
    if (scheme === 'bearer') {
      // a token request with credentials and no scope is how docker login checks them
      const c = await this.challengeFor();
      if (c) await this.fetchToken(c, [], creds);
      return;
    }
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    if (scheme === 'basic') headers['authorization'] = basicAuthorization(creds);
    const res = await this.http({ origin: base, path: '/v2/', method: 'GET', headers }).catch((e: unknown) => {
      throw this.networkError(ctx, e);
    });
    this.emit({ type: 'request', registry: this.registry, method: 'GET', path: '/v2/', status: res.statusCode, attempt: 1 });
    const text = await res.body.text().catch(() => '');
    if (res.statusCode === 401 || res.statusCode === 403) throw new RegistryUnauthorizedError(ctx, res.statusCode, parseRegistryErrors(text));
    if (res.statusCode !== 200) throw new RegistryHttpError(ctx, res.statusCode, parseRegistryErrors(text));
  }

  private async challengeFor(): Promise<AuthChallenge | undefined> {
    const base = await this.baseUrl();
    const res = await this.http({ origin: base, path: '/v2/', method: 'GET', headers: { 'user-agent': this.userAgent } });
    await res.body.dump();
    return pickChallenge(headerValue({ headers: res.headers }, 'www-authenticate'));
  }

  private async fetchToken(c: AuthChallenge, scopes: readonly string[], creds: RegistryCredentials | undefined): Promise<BearerToken> {
    const realm = c.params['realm'] as string;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryProtocolError(this.ctx('getting a token'), 'the bearer challenge has an invalid realm URL');
    }
    const ctx = this.ctx(`getting a token from ${url.host}${scopes.length ? ` for ${scopes.join(' ')}` : ''}`);
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    const refreshToken = creds?.identityToken !== undefined ? (this.refreshToken ?? creds.identityToken) : undefined;
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (refreshToken !== undefined) {
      // docker's identity token is an OAuth2 refresh token: POST it to the realm
      // (the token stays in the body, never in a URL)
      method = 'POST';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: this.userAgent });
      if (c.params['service']) form.set('service', c.params['service']);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (c.params['service']) url.searchParams.set('service', c.params['service']);
      for (const s of scopes) url.searchParams.append('scope', s);
      if (creds && creds.username !== IDENTITY_TOKEN_USER) url.searchParams.set('account', creds.username);
      if (creds) headers['authorization'] = basicAuthorization(creds);
    }
    for (let attempt = 1; ; attempt++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.http({ origin: url.origin, path: url.pathname + url.search, method, headers, ...(body !== undefined ? { body } : {}) });
      } catch (e) {
        if (attempt < this.retry.attempts && isRetriableNetworkError(e)) {
          await sleep(backoffDelay(this.retry, attempt));
          continue;
        }
        throw this.networkError(ctx, e);
      }
      this.emit({ type: 'request', registry: this.registry, method, path: `${url.host}${url.pathname}`, status: res.statusCode, attempt });
      if (isRetriableStatus(res.statusCode) && attempt < this.retry.attempts) {
        await res.body.dump();
        await sleep(backoffDelay(this.retry, attempt));
        continue;
      }
      const text = await res.body.text().catch(() => '');
      if (res.statusCode === 401 || res.statusCode === 403) throw new RegistryUnauthorizedError(ctx, res.statusCode, parseRegistryErrors(text));
      if (res.statusCode !== 200) throw new RegistryHttpError(ctx, res.statusCode, parseRegistryErrors(text));
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      const token = parseTokenResponse(json);
      if (!token) throw new RegistryProtocolError(ctx, 'the token server answered without a token');
      // an OAuth2 server may rotate the refresh token: use the new one from now on
      const rotated = (json as { refresh_token?: unknown }).refresh_token;
      if (refreshToken !== undefined && typeof rotated === 'string' && rotated !== '') this.refreshToken = rotated;
      this.emit({ type: 'auth', registry: this.registry, scheme: 'bearer', scope: scopes.join(' '), authenticated: creds !== undefined });
      return token;
    }
  }

  /**
   * Sends a request with auth, retries and (for GET/HEAD) redirects. Returns 2xx and the
   * statuses in `accept`; throws a typed RegistryError for everything else.
   */
  async request(req: RegistryRequest): Promise<RegistryResponse> {
    const base = await this.baseUrl();
    const ctx = this.ctx(req.operation, req.repository);
    const oneShot = req.stream !== undefined;
    const attempts = oneShot ? 1 : this.retry.attempts;
    let reauthed = oneShot;
    for (let attempt = 1; ; attempt++) {
      const authorization = await this.auth.header(req.scopes);
      let res: RegistryResponse;
      try {
        res = await this.send(base, req, authorization, attempt);
      } catch (e) {
        // the body stream's own failure (its source failed verification): report that, not the network
        if (e instanceof SlipwayError) throw e;
        if (attempt < attempts && isRetriableNetworkError(e)) {
          const delayMs = backoffDelay(this.retry, attempt);
          this.emit({ type: 'retry', registry: this.registry, operation: req.operation, attempt, delayMs, reason: networkErrorCode(e) ?? 'network error' });
          await sleep(delayMs);
          continue;
        }
        throw this.networkError(ctx, e);
      }
      const { status } = res;
      if (status === 401 && !reauthed) {
        // token missing, expired or too narrow: take the challenge and try once more
        const challenge = pickChallenge(headerValue(res, 'www-authenticate'));
        await res.body.dump();
        if (challenge) {
          reauthed = true;
          this.auth.setChallenge(challenge);
          this.auth.invalidate(req.scopes);
          attempt--;
          continue;
        }
        throw new RegistryUnauthorizedError(ctx, status);
      }
      if ((status >= 200 && status < 300) || req.accept?.includes(status)) return res;
      if (isRetriableStatus(status) && attempt < attempts) {
        const retryAfter = status === 429 || status === 503 ? parseRetryAfter(headerValue(res, 'retry-after')) : undefined;
        const delayMs = retryAfter !== undefined ? Math.min(retryAfter, 60_000) : backoffDelay(this.retry, attempt);
        await res.body.dump();
        this.emit({ type: 'retry', registry: this.registry, operation: req.operation, attempt, delayMs, reason: `HTTP ${status}` });
        await sleep(delayMs);
        continue;
      }
      const text = req.method === 'HEAD' ? '' : await readLimited(res.body, STATUS_TEXT_LIMIT);
      const entries = parseRegistryErrors(text);
      if (status === 401 || status === 403) throw new RegistryUnauthorizedError(ctx, status, entries);
      if (status === 404) throw new RegistryNotFoundError(ctx, status, entries);
      if (status === 429) throw new RegistryRateLimitError(ctx, entries);
      throw new RegistryHttpError(ctx, status, entries);
    }
  }

  private async send(base: string, req: RegistryRequest, authorization: string | undefined, attempt: number): Promise<RegistryResponse> {
    let url = new URL(req.path, base);
    const baseOrigin = new URL(base).origin;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
      // credentials go to the registry's own origin only, never to a redirect target elsewhere
      if (authorization && url.origin === baseOrigin) headers['authorization'] = authorization;
      const res = await this.http({
        origin: url.origin,
        path: url.pathname + url.search,
        method: req.method,
        headers,
        ...(req.body !== undefined ? { body: req.body } : req.stream !== undefined ? { body: req.stream } : {}),
      });
      this.emit({ type: 'request', registry: this.registry, method: req.method, path: url.origin === baseOrigin ? url.pathname : `${url.host}${url.pathname}`, status: res.statusCode, attempt });
      const location = headerValue({ headers: res.headers }, 'location');
      const redirect = [301, 302, 303, 307, 308].includes(res.statusCode) && location !== undefined;
      if (redirect && req.followRedirects && (req.method === 'GET' || req.method === 'HEAD') && hop < 10) {
        await res.body.dump();
        url = new URL(location, url);
        continue;
      }
      return { status: res.statusCode, headers: res.headers, body: res.body, url: url.toString() };
    }
  }
}

async function readLimited(body: ResponseBody, limit: number): Promise<string> {
  let out = '';
  try {
    for await (const chunk of body) {
      out += (chunk as Buffer).toString('utf8');
      if (out.length >= limit) {
        body.destroy();
        break;
      }
    }
  } catch {
    /* partial error body is fine */
  }
  return out.slice(0, limit);
}
