import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { SlipwayError } from '../oci/errors.js';
import { DockerignoreError, IgnoreMatcher, parseDockerignore } from './dockerignore.js';
import { cleanContextPath, resolveInRootSync } from './paths.js';
import { WildcardSyntaxError, goMatcher, hasWildcard } from './wildcard.js';

/** One file system object a COPY/ADD source brings along, with the stat data COPY and cache keys need. */
export interface ContextEntry {
  /** Host path relative to the source root (posix, '' = the root), symlinks of the named source resolved. */
  path: string;
  /** Path relative to the matched source ('' for the source itself): where it lands under the destination. */
  rel: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  /** Byte size (0 unless a file). */
  size: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  nlink: number;
  /** Symlink target as stored (links below a source are copied as links, never followed). */
  linkTarget?: string;
  /** Host path to read (never put it in cache keys). */
  hostPath: string;
  /**
   * The bytes the cache key hashed (small build-context files, within a memory budget): the
   * layer writes exactly these, so key and layer agree even if the file changes mid-build.
   */
  content?: Buffer;
}

/** One match of a source pattern. */
export interface SourceMatch {
  /** The source as written. */
  source: string;
  /** Matched path relative to the root, before its own symlinks are resolved ('' = the root). */
  path: string;
  /** The match came from a wildcard pattern. */
  wildcard: boolean;
  type: 'file' | 'dir';
  /** The source itself first (rel ''), then (for a directory) everything below it, sorted by path. */
  entries: ContextEntry[];
}

export type ContextSourceReason = 'missing' | 'ignored' | 'dangling' | 'unsupported' | 'pattern';

/** A COPY/ADD source that cannot be used; `reason` says why, the message names the source and the root. */
export class ContextSourceError extends SlipwayError {
  constructor(readonly source: string, readonly reason: ContextSourceReason, message: string, hint: string) {
    super('CONTEXT_SOURCE', message, { hint });
  }
}

export interface SelectOptions {
  /** `--exclude` patterns (.dockerignore syntax, matched against the path below each source). */
  exclude?: readonly string[];
}

/** Where sources are selected from. */
export interface SelectRoot {
  /** Absolute host directory. */
  dir: string;
  /** For messages: "build context", "stage builder". */
  name: string;
  /** .dockerignore of the build context (paths relative to `dir`). */
  ignore?: PathMatcher;
}

/** What the walk asks of an ignore list (IgnoreMatcher fits). */
export interface PathMatcher {
  ignores(rel: string): boolean;
  /** Whether `!` exceptions may re-include something below an ignored directory. */
  readonly hasExclusions: boolean;
}

const EMPTY: PathMatcher = new IgnoreMatcher([]);

function kind(st: Stats): ContextEntry['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined; // sockets, fifos, devices: skipped, as BuildKit's context transfer does
}

function entryOf(root: string, path: string, rel: string, st: Stats, type: ContextEntry['type'], host?: string): ContextEntry {
  const hostPath = host ?? (path === '' ? root : join(root, path));
  const e: ContextEntry = {
    path, rel, type, mode: st.mode & 0o7777, size: type === 'file' ? st.size : 0,
    uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev, nlink: st.nlink, hostPath,
  };
  if (type === 'symlink') e.linkTarget = readlinkSync(hostPath);
  return e;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false }); // ENOENT without an exception; ENOTDIR still throws
  } catch {
    return undefined;
  }
}

/** `--exclude` patterns as one matcher; a lone `!` is refused. */
export function excludeMatcher(patterns: readonly string[] = []): PathMatcher {
  if (patterns.length === 0) return EMPTY;
  return new IgnoreMatcher(patterns.flatMap((x) => {
    try {
      return parseDockerignore(x, '--exclude');
    } catch (e) {
      if (!(e instanceof DockerignoreError)) throw e;
      throw new ContextSourceError(x, 'pattern', `COPY --exclude=${x}: illegal exclusion pattern`, 'a "!" must be followed by the pattern it re-includes');
    }
  }));
}

interface Walk {
  root: SelectRoot;
  ignore: PathMatcher;
  exclude: PathMatcher;
  /** Whether an excluded directory may still hold re-included entries ("!" exceptions). */
  descendExcluded: boolean;
}

/**
 * Appends the entries below directory `dir` (root-relative) to `out`, sorted by path.
 * Metadata calls are synchronous on purpose: thousands of lstat()s answered from the page
 * cache cost microseconds each, where a thread-pool round trip each costs far more.
 */
function below(w: Walk, dir: string, relBase: string, out: ContextEntry[]): void {
  // paths below a clean root are clean: plain concatenation, no path.join per entry
  const hostDir = dir === '' ? w.root.dir : `${w.root.dir}/${dir}`;
  const names = readdirSync(hostDir).sort();
  for (const n of names) {
    const path = dir === '' ? n : `${dir}/${n}`;
    const rel = relBase === '' ? n : `${relBase}/${n}`;
    const host = `${hostDir}/${n}`;
    const st = lstatOrUndefined(host);
    const type = st && kind(st);
    if (!st || !type) continue;
    const excluded = (w.ignore !== EMPTY && w.ignore.ignores(path)) || (w.exclude !== EMPTY && w.exclude.ignores(rel));
    if (!excluded) {
      out.push(entryOf(w.root.dir, path, rel, st, type, host));
      if (type === 'dir') below(w, path, rel, out);
      continue;
    }
    // an excluded directory is kept (as the parent of what is re-included) when a "!" exception keeps something below it
    if (type !== 'dir' || !w.descendExcluded) continue;
    const at = out.length;
    below(w, path, rel, out);
    if (out.length > at) out.splice(at, 0, entryOf(w.root.dir, path, rel, st, type, host));
  }
}

/**
 * Expands a wildcard pattern component by component (Go filepath.Match per component; `*`
 * never crosses `/`). Components before the first wildcard are taken literally, as BuildKit's
 * splitWildcards does; candidates that do not exist are dropped later.
 */
function expand(root: string, source: string, pattern: string): string[] {
  let current = [''];
  let seenWildcard = false;
  for (const comp of pattern.split('/')) {
    seenWildcard ||= hasWildcard(comp);
    const next: string[] = [];
    if (!seenWildcard || !/[\\*?[]/.test(comp)) {
      for (const base of current) next.push(base === '' ? comp : `${base}/${comp}`);
    } else {
      let match: (name: string) => boolean;
      try {
        match = goMatcher(comp);
      } catch (e) {
        if (!(e instanceof WildcardSyntaxError)) throw e;
        throw new ContextSourceError(source, 'pattern', `COPY source "${source}" is not a valid pattern (${e.message})`, 'wildcards follow Go filepath.Match: * ? [a-z] [^a-z], escape with \\');
      }
      for (const base of current) {
        let names: string[];
        try {
          const dir = resolveInRootSync(root, base);
          names = readdirSync(dir === '' ? root : join(root, dir));
        } catch {
          continue;
        }
        for (const n of names.sort()) if (match(n)) next.push(base === '' ? n : `${base}/${n}`);
      }
    }
    current = next;
  }
  return current;
}

/**
 * The entries COPY/ADD sources select from a root, with docker/BuildKit rules:
 * - a source is relative to the root; absolute paths and `..` stay inside it;
 * - wildcards (`*`, `?`, `[...]`, `\` escapes) have Go filepath.Match semantics per
 *   path component (no braces, no `**`, dot files match); a wildcard that matches
 *   nothing selects nothing (BuildKit's AllowEmptyWildcard);
 * - a named source (or match) follows its own symlinks inside the root, as a chroot
 *   would; one whose target does not exist is an error, as in BuildKit;
 * - a directory brings its contents; symlinks below it stay symlinks;
 * - .dockerignore'd paths do not exist (a named one is an error saying so), except
 *   directories that keep entries through `!` exceptions;
 * - `--exclude` patterns (.dockerignore syntax) match the path below each source, and
 *   a wildcard match's own name.
 * Throws ContextSourceError for a missing, ignored or dangling named source.
 */
export async function selectSources(root: SelectRoot, sources: readonly string[], options: SelectOptions = {}): Promise<SourceMatch[]> {
  const exclude = excludeMatcher(options.exclude);
  const ignore = root.ignore ?? EMPTY;
  const w: Walk = { root, ignore, exclude, descendExcluded: ignore.hasExclusions || exclude.hasExclusions };
  const out: SourceMatch[] = [];
  for (const source of sources) {
    const clean = cleanContextPath(source);
    const wildcard = hasWildcard(clean);
    const paths = wildcard ? expand(root.dir, source, clean) : [clean];
    for (const p of paths) {
      if (wildcard && exclude !== EMPTY && exclude.ignores(posix.basename(p))) continue;
      const m = matchOne(w, source, p, wildcard);
      if (m) out.push(m);
    }
  }
  return out;
}

function matchOne(w: Walk, source: string, p: string, wildcard: boolean): SourceMatch | undefined {
  const { root } = w;
  const resolved = resolveInRootSync(root.dir, p);
  const st = lstatOrUndefined(resolved === '' ? root.dir : join(root.dir, resolved));
  const type = st && kind(st);
  if (!st || !type) {
    const self = resolveInRootSync(root.dir, p, false);
    const link = lstatOrUndefined(join(root.dir, self));
    if (link?.isSymbolicLink()) {
      const target = readlinkSync(join(root.dir, self));
      throw new ContextSourceError(source, 'dangling', `COPY source "${source}"${wildcard ? ` (${p})` : ''} is a symlink to "${target}", which does not exist in ${root.name}`, 'copy the link target too, or point the link at a path inside it');
    }
    if (st && !type) {
      if (wildcard) return undefined;
      throw new ContextSourceError(source, 'unsupported', `COPY source "${source}" is not a file or directory in ${root.name}`, 'COPY takes regular files, directories and symlinks');
    }
    if (wildcard) return undefined;
    throw new ContextSourceError(source, 'missing', `COPY source "${source}" not found in ${root.name}`, 'check the path (it is relative to the build context, not the Dockerfile)');
  }
  const ignored = w.ignore !== EMPTY && ((p !== '' && w.ignore.ignores(p)) || (resolved !== '' && w.ignore.ignores(resolved)));
  const entries = [entryOf(root.dir, resolved, '', st, type)];
  if (type === 'dir') {
    if (ignored && !w.ignore.hasExclusions) return refuse(source, wildcard, root);
    below(ignored ? { ...w, descendExcluded: true } : w, resolved, '', entries);
    if (ignored && entries.length === 1) return refuse(source, wildcard, root);
  } else if (ignored) return refuse(source, wildcard, root);
  return { source, path: p, wildcard, type: type as 'file' | 'dir', entries };
}

function refuse(source: string, wildcard: boolean, root: SelectRoot): undefined {
  if (wildcard) return undefined;
  throw new ContextSourceError(source, 'ignored', `COPY source "${source}" is excluded by .dockerignore`, `remove the matching pattern from ${root.name === 'build context' ? '.dockerignore' : 'the ignore file'} or add a "!" exception for it`);
}

/** Selections of one root, each walked once per process (the cache key and the COPY step share the walk). */
export class SourceSelector {
  private readonly memo = new Map<string, Promise<SourceMatch[]>>();
  constructor(readonly root: SelectRoot) {}

  select(sources: readonly string[], options: SelectOptions = {}): Promise<SourceMatch[]> {
    const k = JSON.stringify([sources, options.exclude ?? []]);
    let p = this.memo.get(k);
    if (!p) {
      p = selectSources(this.root, sources, options);
      this.memo.set(k, p);
    }
    return p;
  }
}
