import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, readSync, type ReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { IgnoreMatcher, parseDockerignore } from './dockerignore.js';
import { ContextPathError, cleanContextPath, resolveInRoot } from './paths.js';
import { ContextSourceError, SourceSelector, type ContextEntry, type SourceMatch } from './select.js';

/** Build-context files a step reads (same shape as plan's ContextSelection). */
export interface SourceSelection {
  sources: string[];
  exclude: string[];
  parents: boolean;
}

/**
 * A persistent store of file content digests keyed by stat data (H2's hash cache plugs in
 * here). `get` answers from the entry's stat data alone (no re-stat); `set` records a digest.
 */
export interface FileDigestMemo {
  get(entry: ContextEntry): string | undefined;
  set(entry: ContextEntry, digest: string): void;
}

/** Files up to this size are read synchronously into one reused buffer when hashed. */
const SYNC_READ_MAX = 1 << 20;
/** Big files hashed at once (their reads overlap; the hashing itself is on this thread). */
const BIG_FILE_READS = 3;
/** Bytes of hashed small files kept per build for the COPY step (ContextEntry.content). */
/** One-shot sha256 (crypto.hash, Node >= 20.12; a Hash object on older 20.x). */
const sha256Hex: (data: Buffer) => string =
  typeof nodeCrypto.hash === 'function' ? (data) => nodeCrypto.hash('sha256', data, 'hex') : (data) => createHash('sha256').update(data).digest('hex');
const KEEP_BUDGET = 32 << 20;
let readBuffer: Buffer | undefined;

/**
 * sha256 of a small file of `size` bytes (by its stat): open/read/close on this thread (a
 * thread-pool round trip per small file costs more than the read), one-shot hash. With
 * `keep`, the file is read into its own buffer, returned when it held the whole file.
 */
function digestSmallFile(path: string, size: number, keep: boolean): { digest: string; bytes?: Buffer } {
  const shared = (readBuffer ??= Buffer.allocUnsafe(SYNC_READ_MAX + 1));
  // one byte more than expected: a full buffer means the file grew, and it is read on
  const buf = keep ? Buffer.allocUnsafe(size + 1) : shared;
  const fd = openSync(path, 'r');
  try {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n < buf.length) {
      // a short read of a regular file is its end: one read() for a small file, not two
      const data = buf.subarray(0, n);
      const digest = `sha256:${sha256Hex(data)}`;
      return keep ? { digest, bytes: data } : { digest };
    }
    const h = createHash('sha256').update(buf);
    for (;;) {
      const m = readSync(fd, shared, 0, shared.length, null);
      if (m === 0) break;
      h.update(shared.subarray(0, m));
    }
    return { digest: `sha256:${h.digest('hex')}` };
  } finally {
    closeSync(fd);
  }
}

async function digestFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

export interface OpenContextOptions {
  /** Dockerfile path (absolute or relative to cwd): `<Dockerfile>.dockerignore` beside it wins over `<context>/.dockerignore`. */
  dockerfile?: string;
  /** Persistent file digests (see FileDigestMemo). */
  digests?: FileDigestMemo;
}

export interface HashSelectionOptions {
  /**
   * A source that cannot be selected (missing, ignored, dangling) goes into the hash as its
   * error message instead of failing: the build keys the step and fails later, at the step,
   * with a located message. Default: throw ContextSourceError.
   */
  recordErrors?: boolean;
}

/**
 * The build context: a directory, its .dockerignore, safe path resolution and
 * content hashes. Nothing read through it escapes the root. Each COPY/ADD
 * selection is walked once: `slipway plan`, the build's cache key and the COPY
 * step all read the same entry list (`selector`).
 */
export class BuildContext {
  private readonly fileDigests = new Map<string, string | Promise<string>>();
  /** Bytes kept as ContextEntry.content so far. */
  private kept = 0;
  /** The one selector of this context (memoized walks); give it to the COPY step. */
  readonly selector: SourceSelector;

  private constructor(readonly root: string, readonly ignore: IgnoreMatcher, readonly ignoreFile: string | undefined, private digests: FileDigestMemo | undefined) {
    this.selector = new SourceSelector({ dir: root, name: 'build context', ignore });
  }

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
      return new BuildContext(root, new IgnoreMatcher(parseDockerignore(text, basename(f))), f, options.digests);
    }
    return new BuildContext(root, new IgnoreMatcher([]), undefined, options.digests);
  }

  /** Uses a persistent digest memo from now on (H2's hash cache). */
  useDigestMemo(memo: FileDigestMemo): void {
    this.digests = memo;
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

  /** Every entry of the context that .dockerignore keeps, sorted by path (the root itself left out). */
  async walk(): Promise<ContextEntry[]> {
    const [m] = await this.selector.select(['.']);
    return m ? m.entries.slice(1) : [];
  }

  /**
   * The paths one COPY/ADD source selects (rules: src/context/select.ts `selectSources`).
   * Throws ContextSourceError for a missing, ignored or dangling named source; a wildcard
   * that matches nothing selects nothing.
   */
  select(source: string, options: { exclude?: readonly string[] } = {}): Promise<SourceMatch[]> {
    return this.selector.select([source], options);
  }

  /** A fresh read stream of a file entry. */
  open(entry: ContextEntry): ReadStream {
    if (entry.type !== 'file') throw new ContextSourceError(entry.path, 'unsupported', `${entry.path}: not a regular file`, 'COPY reads regular files');
    return createReadStream(entry.hostPath);
  }

  /**
   * Content hash (`sha256:...`) of everything a selection copies: per entry its
   * path under the source, type, permission bits, symlink target and file
   * contents (each file read once per build). Never mtimes, owners or host paths.
   * This is the COPY/ADD cache key part of `slipway plan` and of the build.
   */
  async hashSelection(sel: SourceSelection, options: HashSelectionOptions = {}): Promise<string> {
    const h = createHash('sha256');
    h.update(`parents=${sel.parents} exclude=${JSON.stringify(sel.exclude)}\n`);
    let matches: SourceMatch[];
    try {
      matches = await this.selector.select(sel.sources, { exclude: sel.exclude });
    } catch (e) {
      if (options.recordErrors !== true || !(e instanceof ContextSourceError)) throw e;
      h.update(`error ${e.message}\n`);
      return `sha256:${h.digest('hex')}`;
    }
    this.prefetchBigFiles(matches);
    for (const m of matches) {
      h.update(`source ${m.path}\n`);
      for (const e of m.entries) {
        let content = '';
        if (e.type === 'file') {
          const d = this.fileDigest(e);
          content = typeof d === 'string' ? d : await d; // no await (a microtask) per small file
        }
        h.update(`${e.rel}\0${e.type}\0${e.mode.toString(8)}\0${e.linkTarget ?? ''}\0${content}\n`);
      }
    }
    return `sha256:${h.digest('hex')}`;
  }

  /**
   * Starts the digests of the big (streamed) files, BIG_FILE_READS at a time, so their reads
   * overlap each other and the hashing; hashSelection then takes them in order from the memo.
   */
  private prefetchBigFiles(matches: readonly SourceMatch[]): void {
    const big = matches.flatMap((m) => m.entries.filter((e) => e.type === 'file' && e.size > SYNC_READ_MAX && !this.fileDigests.has(e.hostPath)));
    if (big.length < 2) return;
    let next = 0;
    const start = (): void => {
      const e = big[next++];
      if (e === undefined) return;
      // failures surface where hashSelection awaits the same promise; here they only start the next read
      Promise.resolve(this.fileDigest(e)).then(start, start);
    };
    for (let i = 0; i < BIG_FILE_READS; i++) start();
  }

  /**
   * The one place a context file's content digest is computed: this build's memo, then
   * the persistent memo (by stat data), then a read (small files synchronously).
   */
  fileDigest(entry: ContextEntry): string | Promise<string> {
    const known = this.fileDigests.get(entry.hostPath);
    if (known !== undefined) return known;
    const remembered = this.digests?.get(entry);
    if (remembered !== undefined) {
      this.fileDigests.set(entry.hostPath, remembered);
      return remembered;
    }
    const record = (d: string): string => {
      this.fileDigests.set(entry.hostPath, d);
      this.digests?.set(entry, d);
      return d;
    };
    if (entry.size <= SYNC_READ_MAX) {
      const r = digestSmallFile(entry.hostPath, entry.size, this.kept + entry.size <= KEEP_BUDGET);
      if (r.bytes !== undefined && r.bytes.length === entry.size) {
        entry.content = r.bytes;
        this.kept += r.bytes.length;
      }
      return record(r.digest);
    }
    const p = digestFile(entry.hostPath).then(record);
    this.fileDigests.set(entry.hostPath, p);
    return p;
  }
}
