import { posix } from 'node:path';
import { createRequire } from 'node:module';
import type Micromatch from 'micromatch';
import { SlipwayError } from '../oci/errors.js';

const requireCjs = createRequire(import.meta.url);
let micromatchModule: typeof Micromatch | undefined;
/** micromatch loads on first use: it costs ~25 ms of every CLI start otherwise. */
const micromatch = (): typeof Micromatch => (micromatchModule ??= requireCjs('micromatch') as typeof Micromatch);

/** One .dockerignore line, cleaned as docker cleans it. */
export interface IgnorePattern {
  pattern: string;
  /** `!pattern`: re-includes what earlier patterns excluded. */
  exclusion: boolean;
  /** Number of path components (for docker's parent-directory rule). */
  depth: number;
}

export class DockerignoreError extends SlipwayError {
  constructor(file: string, line: number, message: string) {
    super('DOCKERIGNORE', `${file}:${line}: ${message}`, { hint: 'fix or remove that .dockerignore line' });
  }
}

const MM = { dot: true, nobrace: true, noextglob: true, nonegate: true } as const;

/** Parses .dockerignore text: comments (`#`), blank lines, `!` exceptions, paths cleaned and anchored at the context root. */
export function parseDockerignore(text: string, file = '.dockerignore'): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    let exclusion = false;
    if (line.startsWith('!')) {
      exclusion = true;
      line = line.slice(1).trim();
      if (line === '') throw new DockerignoreError(file, i + 1, 'illegal exclusion pattern: "!"');
    }
    let p = posix.normalize(line);
    if (p.length > 1 && p.startsWith('/')) p = p.slice(1);
    p = posix.normalize(p);
    if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
    if (p.startsWith('../')) p = p.replace(/^(\.\.\/)+/, '');
    out.push({ pattern: p, exclusion, depth: p.split('/').length });
  });
  return out;
}

/**
 * Docker's matcher: the last matching pattern wins; a pattern also matches a
 * path when it matches one of its parent directories (so `dir` and `**\/tmp`
 * exclude everything below the directories they name).
 */
export class IgnoreMatcher {
  readonly hasExclusions: boolean;
  /** One compiled matcher per pattern, made on first use (a context walk asks thousands of times). */
  private compiled: ((p: string) => boolean)[] | undefined;

  constructor(readonly patterns: readonly IgnorePattern[]) {
    this.hasExclusions = patterns.some((p) => p.exclusion);
  }

  /** True when `rel` (posix, relative to the context root) is excluded from the context. */
  ignores(rel: string): boolean {
    if (rel === '' || rel === '.' || this.patterns.length === 0) return false;
    const match = (this.compiled ??= this.patterns.map((p) => micromatch().matcher(p.pattern, MM)));
    // the path and each of its parent dirs
    const candidates = [rel];
    for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) candidates.push(rel.slice(0, i));
    let matched = false;
    for (let k = 0; k < this.patterns.length; k++) {
      const m = match[k] as (p: string) => boolean;
      if (candidates.some((c) => m(c))) matched = !(this.patterns[k] as IgnorePattern).exclusion;
    }
    return matched;
  }
}

export function emptyMatcher(): IgnoreMatcher {
  return new IgnoreMatcher([]);
}
