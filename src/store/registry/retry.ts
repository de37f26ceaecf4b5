/** Exponential backoff with full jitter, honouring Retry-After. */
export interface RetryPolicy {
  /** Total attempts including the first (>= 1). */
  attempts: number;
  /** First backoff in ms; doubles each retry. */
  baseMs: number;
  /** Upper bound of one backoff (and of a Retry-After the client honours). */
  maxMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseMs: 200, maxMs: 15_000 };

/** Backoff before retry number `retry` (1-based): random in [d/2, d] with d = base * 2^(retry-1), capped. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const d = Math.min(policy.maxMs, policy.baseMs * 2 ** (retry - 1));
  return Math.round(d / 2 + random() * (d / 2));
}

/** Retry-After as ms: delta-seconds or an HTTP date. Undefined when absent or unparsable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

const RETRIABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Error code of a Node/undici error, looking through `cause`. */
export function networkErrorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Connection-level failures worth another attempt. */
export function isRetriableNetworkError(err: unknown): boolean {
  const code = networkErrorCode(err);
  return code !== undefined && RETRIABLE_CODES.has(code);
}

export function isRetriableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

const TLS_CODE = /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|EPROTO$|ERR_OSSL)/;

/** TLS handshake or certificate failures: never retried, reported as TLS errors. */
export function isTlsError(err: unknown): boolean {
  const code = networkErrorCode(err);
  return code !== undefined && TLS_CODE.test(code);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
