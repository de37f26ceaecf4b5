import { SlipwayError } from '../../oci/index.js';

/** Where a registry failure happened: names that go into every registry error message. */
export interface RegistryErrorContext {
  /** Registry host[:port] as the user named it. */
  registry: string;
  /** Repository path, when the operation is about one. */
  repository?: string;
  /** What slipway was doing, verb-ing form: "resolving manifest latest", "uploading blob sha256:...". */
  operation: string;
}

/** One entry of a distribution-spec error body: `{"errors":[{"code","message","detail"}]}`. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

function where(ctx: RegistryErrorContext): string {
  return ctx.repository === undefined ? ctx.registry : `${ctx.registry}/${ctx.repository}`;
}

/**
 * Base class of registry failures. Messages read
 * `<operation> at <registry>/<repository>: <what happened>`; `registryCode` carries the
 * registry's own error code (e.g. MANIFEST_UNKNOWN) when it sent one.
 */
export class RegistryError extends SlipwayError {
  readonly registry: string;
  readonly repository: string | undefined;
  readonly operation: string;
  readonly status: number | undefined;
  readonly registryCode: string | undefined;

  constructor(
    code: string,
    ctx: RegistryErrorContext,
    what: string,
    opts: { status?: number; registryCode?: string; hint?: string; cause?: unknown } = {},
  ) {
    super(code, `${ctx.operation} at ${where(ctx)}: ${what}`, {
      ...(opts.hint === undefined ? {} : { hint: opts.hint }),
      ...(opts.cause === undefined ? {} : { cause: opts.cause }),
    });
    this.registry = ctx.registry;
    this.repository = ctx.repository;
    this.operation = ctx.operation;
    this.status = opts.status;
    this.registryCode = opts.registryCode;
  }
}

function describe(status: number, entries: readonly RegistryErrorEntry[]): string {
  const first = entries[0];
  if (!first) return `HTTP ${status}`;
  return `HTTP ${status} ${first.code}${first.message ? `: ${first.message}` : ''}`;
}

/** 401/403: no or wrong credentials, or the credentials lack the permission. */
export class RegistryUnauthorizedError extends RegistryError {
  constructor(ctx: RegistryErrorContext, status: number, entries: readonly RegistryErrorEntry[] = []) {
    super('REGISTRY_UNAUTHORIZED', ctx, `${describe(status, entries)} (access denied)`, {
      status,
      ...(entries[0] ? { registryCode: entries[0].code } : {}),
      hint: `log in with "slipway login ${ctx.registry}" or check that the account may access this repository`,
    });
  }
}

/** 404: manifest, tag, blob or repository unknown. */
export class RegistryNotFoundError extends RegistryError {
  constructor(ctx: RegistryErrorContext, status: number, entries: readonly RegistryErrorEntry[] = []) {
    super('REGISTRY_NOT_FOUND', ctx, `${describe(status, entries)} (not found)`, {
      status,
      ...(entries[0] ? { registryCode: entries[0].code } : {}),
      hint: 'check the repository name and tag or digest',
    });
  }
}

/** 429 that outlived every retry. */
export class RegistryRateLimitError extends RegistryError {
  constructor(ctx: RegistryErrorContext, entries: readonly RegistryErrorEntry[] = []) {
    super('REGISTRY_RATE_LIMITED', ctx, `${describe(429, entries)} (too many requests, gave up after retries)`, {
      status: 429,
      ...(entries[0] ? { registryCode: entries[0].code } : {}),
      hint: 'wait and try again, or log in for a higher rate limit',
    });
  }
}

/** Any other unexpected HTTP status (5xx after retries, 4xx the client cannot fix by itself). */
export class RegistryHttpError extends RegistryError {
  constructor(ctx: RegistryErrorContext, status: number, entries: readonly RegistryErrorEntry[] = []) {
    super('REGISTRY_HTTP_ERROR', ctx, describe(status, entries), {
      status,
      ...(entries[0] ? { registryCode: entries[0].code } : {}),
      hint: status >= 500 ? 'the registry failed; try again later' : 'the registry refused the request; see its error code',
    });
  }
}

/** Connection failures (refused, reset, DNS, timeouts) after every retry. */
export class RegistryUnreachableError extends RegistryError {
  constructor(ctx: RegistryErrorContext, cause: unknown, detail: string) {
    super('REGISTRY_UNREACHABLE', ctx, `cannot reach the registry (${detail})`, {
      cause,
      hint: 'check the host and port, the network, and whether the registry speaks HTTPS (--insecure-registry for plain HTTP)',
    });
  }
}

/** TLS handshake or certificate verification failed. */
export class RegistryTlsError extends RegistryError {
  constructor(ctx: RegistryErrorContext, cause: unknown, detail: string) {
    super('REGISTRY_TLS', ctx, `TLS failed (${detail})`, {
      cause,
      hint: 'pass the registry\'s CA certificate with --tls-ca FILE, or --insecure-registry HOST for a plain-HTTP registry',
    });
  }
}

/** The registry answered something the distribution spec does not allow (missing Location, bad JSON...). */
export class RegistryProtocolError extends RegistryError {
  constructor(ctx: RegistryErrorContext, what: string) {
    super('REGISTRY_PROTOCOL', ctx, what, { hint: 'the registry does not follow the OCI distribution spec here' });
  }
}

/** A docker-credential-* helper failed or is missing. Never includes the helper's output (it may hold secrets). */
export class CredentialHelperError extends SlipwayError {
  constructor(helper: string, registry: string, what: string) {
    super('CREDENTIAL_HELPER', `credential helper docker-credential-${helper} for ${registry}: ${what}`, {
      hint: `install docker-credential-${helper} on PATH, or remove it from credsStore/credHelpers in your docker config`,
    });
  }
}

/** A credentials file (docker config.json / containers auth.json) could not be read or written. */
export class AuthFileError extends SlipwayError {
  constructor(path: string, what: string) {
    super('AUTH_FILE', `credentials file ${path}: ${what}`, { hint: 'fix or remove the file (it is docker config.json format)' });
  }
}

/** Parses `{"errors":[...]}` leniently; anything else yields no entries. */
export function parseRegistryErrors(text: string): RegistryErrorEntry[] {
  try {
    const body = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(body.errors)) return [];
    return body.errors
      .filter((e): e is { code: unknown; message?: unknown } => typeof e === 'object' && e !== null && 'code' in e)
      .map((e) => ({ code: String(e.code), ...(typeof e.message === 'string' ? { message: e.message.slice(0, 300) } : {}) }));
  } catch {
    return [];
  }
}

/** An upload session broke in a way the registry cannot resume (the source must be read again). */
export class RegistryUploadInterruptedError extends RegistryError {
  constructor(ctx: RegistryErrorContext, uploaded: number, cause: unknown) {
    super('REGISTRY_UPLOAD_INTERRUPTED', ctx, `the upload broke after ${uploaded} bytes and the registry cannot resume it`, {
      cause,
      hint: 'run the push again: blobs already in the registry are skipped',
    });
  }
}

/** Failures worth running a whole operation (e.g. a push) again: transient, not auth or not-found. */
export function isRetriableRegistryError(e: unknown): boolean {
  if (e instanceof RegistryUploadInterruptedError || e instanceof RegistryUnreachableError || e instanceof RegistryRateLimitError) return true;
  if (e instanceof RegistryHttpError) return (e.status ?? 0) >= 500;
  if (e instanceof RegistryError) return e.registryCode === 'BLOB_UPLOAD_INVALID' || e.registryCode === 'BLOB_UPLOAD_UNKNOWN';
  return false;
}
