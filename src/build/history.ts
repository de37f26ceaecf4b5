import type { HealthConfig, History, ImageConfig } from '../oci/index.js';

/**
 * `created_by` strings exactly as BuildKit's Dockerfile frontend writes them,
 * so `docker history` of a slipway image reads like one BuildKit made. Go's
 * fmt verbs are mirrored: `%v` of a string slice is `[a b]`, `%q` is `["a" "b"]`.
 */
export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/** Go's `%q` of one string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + '"';
}

/** Go's `%q` of a []string. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map(goQuote).join(' ')}]`;
}

/** Go's `%v` of a []string. */
export function goList(list: readonly string[]): string {
  return `[${list.join(' ')}]`;
}

/** Go's time.Duration String() for nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trimFloat(n / 1e3)}µs`;
  else if (n < 1e9) out = `${trimFloat(n / 1e6)}ms`;
  else {
    const h = Math.floor(n / 3.6e12);
    n -= h * 3.6e12;
    const m = Math.floor(n / 6e10);
    n -= m * 6e10;
    const s = `${trimFloat(n / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trimFloat(x: number): string {
  return String(Number(x.toFixed(9)));
}

/** `HEALTHCHECK %+v` of docker's HealthcheckConfig struct. */
export function healthcheckCreatedBy(h: HealthConfig): string {
  return (
    `HEALTHCHECK {Test:${goList(h.Test ?? [])} Interval:${goDuration(h.Interval ?? 0)} Timeout:${goDuration(h.Timeout ?? 0)} ` +
    `StartPeriod:${goDuration(h.StartPeriod ?? 0)} StartInterval:${goDuration(h.StartInterval ?? 0)} Retries:${h.Retries ?? 0}}`
  );
}

/**
 * `RUN` history: build args visible to the step are prefixed as `|N K=V ...`
 * (BuildKit's runCommandString), then the argv joined by spaces, then ` # buildkit`.
 */
export function runCreatedBy(argv: readonly string[], buildArgs: readonly (readonly [string, string])[]): string {
  const seen = new Map<string, string>();
  for (const [k, v] of buildArgs) seen.set(k, v);
  const prefix = seen.size > 0 ? [`|${seen.size}`, ...[...seen].map(([k, v]) => `${k}=${v}`)] : [];
  return `RUN ${[...prefix, ...argv].join(' ')} # buildkit`;
}

export interface CopyHistoryInput {
  add: boolean;
  parents?: boolean;
  chown?: string;
  chmod?: string;
  sources: readonly string[];
  /** Heredoc sources (`COPY <<EOF /x`), written as `<<NAME`. */
  heredocs?: readonly string[];
  dest: string;
}

/** `COPY [--parents] [--chown=..] [--chmod=..] SRC... DEST # buildkit` (no --from, as BuildKit). */
export function copyCreatedBy(c: CopyHistoryInput): string {
  const parts = [c.add ? 'ADD' : 'COPY'];
  if (c.parents) parts.push('--parents');
  if (c.chown) parts.push(`--chown=${c.chown}`);
  if (c.chmod) parts.push(`--chmod=${c.chmod}`);
  parts.push(...c.sources, ...(c.heredocs ?? []).map((h) => `<<${h}`), c.dest);
  return `${parts.join(' ')} # buildkit`;
}

/** Appends one history entry; returns a new config. */
export function withHistory(config: ImageConfig, createdBy: string, emptyLayer: boolean, created?: string): ImageConfig {
  const h: History = { created_by: createdBy, comment: HISTORY_COMMENT };
  if (created !== undefined) h.created = created;
  if (emptyLayer) h.empty_layer = true;
  return { ...config, history: [...(config.history ?? []), h] };
}

/**
 * The latest `created` of the config's history entries from index `from` on (as written),
 * if any has one: the image's own `created` (from = where the build's own steps start), so
 * a fully cached rebuild gives the same image.
 */
export function latestHistoryTime(config: ImageConfig, from = 0): string | undefined {
  let best: string | undefined;
  let bestMs = -Infinity;
  for (const h of (config.history ?? []).slice(from)) {
    const ms = h.created !== undefined ? Date.parse(h.created) : NaN;
    if (ms > bestMs) {
      bestMs = ms;
      best = h.created;
    }
  }
  return best;
}
