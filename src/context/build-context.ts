import { createHash } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { lstat, readFile, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type Micromatch from 'micromatch';
import { SlipwayError } from '../oci/errors.js';
import { IgnoreMatcher, parseDockerignore } from './dockerignore.js';
import { ContextPathError, cleanContextPath, resolveInRoot } from './paths.js';

const requireCjs = createRequire(import.meta.url);
let micromatchModule: typeof Micromatch | undefined;
/** micromatch loads on first use: it costs ~25 ms of every CLI start otherwise. */
const micromatch = (): typeof Micromatch => (micromatchModule ??= requireCjs('micromatch') as typeof Micromatch);

/** One file system object a COPY/ADD source brings along. */
export interface ContextEntry {
  /** Path relative to the context root (posix, '' = the root). */
  path: string;
  /** Path relative to the matched source ('' for the source itself): where it lands under the destination. */
  rel: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  size: number;
  /** Symlink target as stored (symlinks are copied as links, never followed below a source). */
  linkTarget?: string;
  /** Host path to read (only for `open`; never put it in cache keys). */
  hostPath: string;
}

/** One match of a source pattern. */
export interface SourceMatch {
  /** The pattern as given. */
  source: string;
  /** Matched path relative to the context root ('' = the root). */
  path: string;
  type: 'file' | 'dir';
  /** The source itself first (rel ''), then (for a directory) everything below it, sorted. */
  entries: ContextEntry[];
}

/** Build-context files a step reads (same shape as plan's ContextSelection). */
export interface SourceSelection {
  sources: string[];
  exclude: string[];
  parents: boolean;
}

export class ContextSourceError extends SlipwayError {
  constructor(source: string, why: string) {
    super('CONTEXT_SOURCE', `${source}: ${why}`, { hint: 'check the path against the build context and its .dockerignore' });
  }
}

const WILDCARD = /[*?[]/;
const MM = { dot: true, nobrace: true, noextglob: true, nonegate: true } as const;

export interface OpenContextOptions {
  /** Dockerfile path (absolute or relative to cwd): `<Dockerfile>.dockerignore` beside it wins over `<context>/.dockerignore`. */
  dockerfile?: string;
}

/**
 * The build context: a directory, its .dockerignore, safe path resolution and
 * content hashes. Nothing read through it escapes the root.
 */
export class BuildContext {
  private readonly fileDigests = new Map<string, Promise<string>>();

  private constructor(readonly root: string, readonly ignore: IgnoreMatcher, readonly ignoreFile: string | undefined) {}

  /** Opens `dir` (which must be a directory) and reads the .dockerignore that applies. */
  static async open(dir: string, options: OpenContextOptions = {}): Promise<BuildContext> {
    let root: string;
    try {
      root = await realpath(resolve(dir));
      if (!(await stat(root)).isDirectory()) throw new Error('not a directory');
    } catch (e) {
      throw new ContextPathError(dir, `build context is not a readable directory (${(e as Error).message})`, 'pass an existing directory as the build context');
    }
    const candidates: string[] = [];
    if (options.dockerfile !== undefined) candidates.push(`${resolve(options.dockerfile)}.dockerignore`);
    candidates.push(join(root, '.dockerignore'));
    for (const f of candidates) {
      let text: string;
      try {
        text = await readFile(f, 'utf8');
      } catch {
        continue;
      }
      return new BuildContext(root, new IgnoreMatcher(parseDockerignore(text, basename(f))), f);
    }
    return new BuildContext(root, new IgnoreMatcher([]), undefined);
  }

  /** Whether .dockerignore excludes `rel` (posix path relative to the root). */
  isIgnored(rel: string): boolean {
    return this.ignore.ignores(cleanContextPath(rel));
  }

  /** Host path of `rel` with symlinks resolved inside the root. */
  async resolve(rel: string, followFinal = true): Promise<string> {
    const r = await resolveInRoot(this.root, rel, followFinal);
    return r === '' ? this.root : join(this.root, ...r.split('/'));
  }

  /** Every entry of the context that .dockerignore keeps, sorted by path. */
  async walk(): Promise<ContextEntry[]> {
    const root = await this.entryAt('', '');
    return root ? [root, ...(await this.below('', '', new IgnoreMatcher([])))].filter((e) => e.path !== '') : [];
  }

  /**
   * The paths a COPY/ADD source selects, with docker's rules: the source is
   * relative to the context root (absolute and `..` stay inside), wildcards
   * (`*`, `?`, `[...]`) match within one path component, ignored paths do not
   * exist, a directory brings its contents, `exclude` patterns (docker
   * .dockerignore syntax, relative to the matched source and to the root)
   * leave entries out. Throws ContextSourceError when nothing matches.
   */
  async select(source: string, options: { exclude?: readonly string[] } = {}): Promise<SourceMatch[]> {
    const clean = cleanContextPath(source);
    const exclude = new IgnoreMatcher(parseDockerignore((options.exclude ?? []).join('\n'), '--exclude'));
    const paths = WILDCARD.test(clean) ? await this.expandWildcards(clean) : [clean];
    const out: SourceMatch[] = [];
    for (const p of paths) {
      if (p !== '' && exclude.ignores(p)) continue;
      const resolved = await resolveInRoot(this.root, p);
      // An ignored directory still exists when a `!` exception keeps something below it.
      const ignored = (p !== '' && this.isIgnored(p)) || (resolved !== '' && this.isIgnored(resolved));
      if (ignored && !this.ignore.hasExclusions) continue;
      const top = await this.entryAt(resolved, '');
      if (!top || top.type === 'symlink' || (ignored && top.type !== 'dir')) continue;
      const below = top.type === 'dir' ? await this.below(resolved, '', exclude) : [];
      if (ignored && below.length === 0) continue;
      out.push({ source, path: p, type: top.type, entries: [{ ...top, path: p }, ...below] });
    }
    if (out.length === 0) {
      throw new ContextSourceError(source, WILDCARD.test(clean) ? 'no source files were specified (the pattern matches nothing in the build context)' : 'not found in the build context');
    }
    return out;
  }

  /** A fresh read stream of a file entry. */
  open(entry: ContextEntry): ReadStream {
    if (entry.type !== 'file') throw new ContextSourceError(entry.path, 'not a regular file');
    return createReadStream(entry.hostPath);
  }

  /**
   * Content hash (`sha256:...`) of everything a selection copies: per entry its
   * path under the source, type, permission bits, symlink target and file
   * contents (streamed, each file once). Never mtimes, owners or host paths.
   */
  async hashSelection(sel: SourceSelection): Promise<string> {
    const h = createHash('sha256');
    h.update(`parents=${sel.parents} exclude=${JSON.stringify(sel.exclude)}\n`);
    for (const s of sel.sources) {
      for (const m of await this.select(s, { exclude: sel.exclude })) {
        h.update(`source ${m.path}\n`);
        for (const e of m.entries) {
          const content = e.type === 'file' ? await this.fileDigest(e.hostPath) : '';
          h.update(`${e.rel}\0${e.type}\0${e.mode.toString(8)}\0${e.linkTarget ?? ''}\0${content}\n`);
        }
      }
    }
    return `sha256:${h.digest('hex')}`;
  }

  private fileDigest(hostPath: string): Promise<string> {
    let p = this.fileDigests.get(hostPath);
    if (!p) {
      p = new Promise<string>((res, rej) => {
        const h = createHash('sha256');
        createReadStream(hostPath)
          .on('data', (c) => h.update(c))
          .on('error', rej)
          .on('end', () => res(`sha256:${h.digest('hex')}`));
      });
      this.fileDigests.set(hostPath, p);
    }
    return p;
  }

  private async entryAt(rel: string, under: string): Promise<ContextEntry | undefined> {
    const hostPath = rel === '' ? this.root : join(this.root, ...rel.split('/'));
    let st;
    try {
      st = await lstat(hostPath);
    } catch {
      return undefined;
    }
    const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : undefined;
    if (type === undefined) return undefined;
    const e: ContextEntry = { path: rel, rel: under, type, mode: st.mode & 0o7777, size: type === 'file' ? st.size : 0, hostPath };
    if (type === 'symlink') e.linkTarget = await readlink(hostPath);
    return e;
  }

  /** Entries below directory `dir` (relative to root), sorted, ignoring what .dockerignore / `exclude` exclude. */
  private async below(dir: string, relBase: string, exclude: IgnoreMatcher): Promise<ContextEntry[]> {
    const out: ContextEntry[] = [];
    const names = (await readdir(dir === '' ? this.root : join(this.root, ...dir.split('/')))).sort();
    for (const n of names) {
      const path = dir === '' ? n : `${dir}/${n}`;
      const rel = relBase === '' ? n : `${relBase}/${n}`;
      const ignored = this.ignore.ignores(path) || exclude.ignores(rel) || exclude.ignores(path);
      const e = await this.entryAt(path, rel);
      if (!e) continue;
      if (!ignored) out.push(e);
      if (e.type === 'dir' && (!ignored || this.ignore.hasExclusions || exclude.hasExclusions)) out.push(...(await this.below(path, rel, exclude)));
    }
    return out;
  }

  private async expandWildcards(pattern: string): Promise<string[]> {
    const comps = pattern.split('/');
    let current: string[] = [''];
    for (let i = 0; i < comps.length; i++) {
      const c = comps[i] as string;
      const next: string[] = [];
      for (const base of current) {
        if (!WILDCARD.test(c)) {
          next.push(base === '' ? c : `${base}/${c}`);
          continue;
        }
        const dirRel = await resolveInRoot(this.root, base);
        let names: string[];
        try {
          names = await readdir(dirRel === '' ? this.root : join(this.root, ...dirRel.split('/')));
        } catch {
          continue;
        }
        for (const n of names.sort()) if (micromatch().isMatch(n, c, MM)) next.push(base === '' ? n : `${base}/${n}`);
      }
      current = next;
    }
    return current;
  }
}
