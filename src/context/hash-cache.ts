import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicFile } from '../store/atomic-file.js';

/**
 * The stat data of a context file that says it is unchanged since it was hashed
 * (src/context/select.ts's ContextEntry has these fields). `path` is relative to
 * the context root.
 */
export interface HashCacheStat {
  path: string;
  size: number;
  /** Permission bits. */
  mode: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
}

export interface ContextHashCacheOptions {
  /** Entries per context (default 200,000): the least recently used go first. */
  maxEntries?: number;
  /** Context files kept in the directory (default 64): the least recently written go first. */
  maxContexts?: number;
  /** Entries unused this many days are dropped when the file is written anyway (default 30). */
  maxAgeDays?: number;
  /** For tests: the clock (ms since the epoch). */
  now?: number;
}

/** One remembered file: its stat data, the sha256 (hex) of its bytes, the day it was last used. */
type Entry = [dev: number, ino: number, size: number, mode: number, mtimeMs: number, ctimeMs: number, sha256: string, day: number];

/** On-disk shape, one file per build context: numbers as JSON writes them (exact round trip). */
interface HashCacheFile {
  v: 2;
  /** The context directory (for people reading the file; never in a cache key). */
  root: string;
  e: Record<string, Entry>;
}

const VERSION = 2;
const DAY_MS = 86_400_000;
/**
 * A file changed within this long before the cache was opened is hashed but not remembered:
 * a write in the same timestamp tick as our read would leave its stat data unchanged
 * ("racily clean", as git calls it). Timestamps in whole seconds get the longer margin.
 */
const RACY_MARGIN_MS = 100;
const RACY_MARGIN_COARSE_MS = 2_000;

function isEntry(v: unknown): v is Entry {
  // the stat fields are compared with ===, so a damaged number never matches (no regex: this runs per file)
  return Array.isArray(v) && v.length === 8 && typeof v[6] === 'string' && v[6].length === 64 && typeof v[7] === 'number';
}

/**
 * A persistent memo of context file contents, as BuildKit's contenthash cache:
 * path within the context + (dev, inode, size, mode, mtime, ctime) -> sha256 of
 * the bytes. A file whose stat data moved (any write changes its ctime, even when
 * mtime is set back) is read again. Only the content digest ever enters a cache
 * key; the stat data just says when a file need not be read.
 *
 * Stored under the store's cache dir, one JSON file per context directory; read
 * once per build, written (temp file, fsync, rename) only when something changed.
 * Builds sharing a store merge their entries on write; a lost race costs a re-read
 * next time, never a wrong digest. Bounded: entries per context, contexts per dir,
 * and entries unused for `maxAgeDays`.
 */
export class ContextHashCache {
  /** The file as read, on first use (a plain object: thousands of entries are not copied into a Map). */
  private loadedEntries: Record<string, unknown> | undefined;
  /** Entries this build added or refreshed (merged into the file on save). */
  private readonly changed = new Map<string, Entry>();
  private readonly today: number;
  private readonly openedAt: number;

  private constructor(readonly file: string, readonly root: string, private readonly dir: string, private readonly opts: ContextHashCacheOptions) {
    this.openedAt = opts.now ?? Date.now();
    this.today = Math.floor(this.openedAt / DAY_MS);
  }

  /** The cache of context directory `root` (an absolute, real path) kept under `dir` (nothing is read yet). */
  static open(dir: string, root: string, opts: ContextHashCacheOptions = {}): ContextHashCache {
    const file = join(dir, `${createHash('sha256').update(root).digest('hex').slice(0, 32)}.json`);
    return new ContextHashCache(file, root, dir, opts);
  }

  /** Read when first asked: a build that copies nothing from its context never reads the file. */
  private get loaded(): Record<string, unknown> {
    return (this.loadedEntries ??= readEntries(this.file, this.root));
  }

  /** Number of remembered files. */
  get size(): number {
    let n = this.changed.size;
    for (const k of Object.keys(this.loaded)) if (!this.changed.has(k) && isEntry(this.loaded[k])) n++;
    return n;
  }

  private entry(path: string): Entry | undefined {
    const c = this.changed.get(path);
    if (c !== undefined) return c;
    // own properties only: a file named __proto__ or constructor is just a name
    const v = Object.hasOwn(this.loaded, path) ? this.loaded[path] : undefined;
    return v !== undefined && isEntry(v) ? v : undefined;
  }

  /** The digest (`sha256:<hex>`) of the file if its stat data is what it was when hashed. */
  get(s: HashCacheStat): string | undefined {
    const e = this.entry(s.path);
    if (e === undefined || e[0] !== s.dev || e[1] !== s.ino || e[2] !== s.size || e[3] !== s.mode || e[4] !== s.mtimeMs || e[5] !== s.ctimeMs) return undefined;
    // used today: a new day is written back once (what keeps an entry from ageing out)
    if (e[7] !== this.today) this.changed.set(s.path, [e[0], e[1], e[2], e[3], e[4], e[5], e[6], this.today]);
    return `sha256:${e[6]}`;
  }

  /** Records the digest (`sha256:<hex>`) read from the file with stat data `s`. */
  set(s: HashCacheStat, digest: string): void {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) return;
    const changedAt = Math.max(s.mtimeMs, s.ctimeMs);
    const coarse = Number.isInteger(s.mtimeMs / 1000) && Number.isInteger(s.ctimeMs / 1000);
    if (changedAt > this.openedAt - (coarse ? RACY_MARGIN_COARSE_MS : RACY_MARGIN_MS)) return;
    this.changed.set(s.path, [s.dev, s.ino, s.size, s.mode, s.mtimeMs, s.ctimeMs, digest.slice(7), this.today]);
  }

  /** Whether save() has anything to write. */
  get dirty(): boolean {
    return this.changed.size > 0;
  }

  /**
   * Writes the file if this build changed anything: the file as it is on disk now
   * (another build may have written it), plus this build's entries, pruned.
   */
  async save(): Promise<void> {
    if (this.changed.size === 0) return;
    await mkdir(this.dir, { recursive: true });
    const isNew = !(await stat(this.file).then(() => true, () => false));
    const merged = new Map<string, Entry>();
    const disk = readEntries(this.file, this.root);
    for (const k of Object.keys(disk)) {
      const v = disk[k];
      if (isEntry(v)) merged.set(k, v);
    }
    for (const [k, v] of this.changed) merged.set(k, v);
    const out: HashCacheFile = { v: VERSION, root: this.root, e: prune(merged, this.today, this.opts.maxEntries ?? 200_000, this.opts.maxAgeDays ?? 30) };
    const f = atomicFile(this.file);
    f.stream.end(JSON.stringify(out));
    await f.commit();
    this.loadedEntries = out.e;
    this.changed.clear();
    if (isNew) await keepNewestFiles(this.dir, this.opts.maxContexts ?? 64, /^[0-9a-f]{32}\.json$/);
  }
}

function readEntries(file: string, root: string): Record<string, unknown> {
  try {
    // sync: one read at build start, before anything else runs in parallel
    const data = JSON.parse(readFileSync(file, 'utf8')) as Partial<HashCacheFile>;
    if (data.v !== VERSION || data.root !== root || typeof data.e !== 'object' || data.e === null || Array.isArray(data.e)) return {};
    return data.e;
  } catch {
    return {};
  }
}

/** Drops entries unused for `maxAge` days, then the least recently used beyond `max`. */
function prune(e: Map<string, Entry>, today: number, max: number, maxAge: number): Record<string, Entry> {
  let kept = [...e].filter(([, v]) => today - v[7] <= maxAge);
  if (kept.length > max) kept = kept.sort((a, b) => b[1][7] - a[1][7]).slice(0, max);
  return Object.fromEntries(kept);
}

/** Keeps the `max` most recently written files of `dir` whose names match `pattern`; removes the rest. */
export async function keepNewestFiles(dir: string, max: number, pattern: RegExp): Promise<void> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => pattern.test(n));
  if (names.length <= max) return;
  const withTimes = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  withTimes.sort((a, b) => b.t - a.t);
  await Promise.all(withTimes.slice(max).map((x) => unlink(join(dir, x.n)).catch(() => undefined)));
}
