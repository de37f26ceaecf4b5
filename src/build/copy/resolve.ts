import { posix } from 'node:path';
import { SlipwayError } from '../../oci/index.js';
import { ContextSourceError, SourceSelector, hasWildcard, type ContextEntry, type PathMatcher, type SourceMatch } from '../../context/index.js';
import type { ExistingPath, FsView, LayerEntry } from './entries.js';
import { cleanAbs, rel, sortEntries } from './entries.js';

export class CopySourceError extends SlipwayError {
  constructor(message: string, hint: string) {
    super('COPY_SOURCE', message, { hint });
  }
}

/** A directory the sources are read from: the build context, a stage's rootfs, or a download/extraction dir. */
export interface SourceRoot {
  dir: string;
  /** Description for messages: "build context", "stage builder". */
  name: string;
  /** True for the build context: files are owned by 0:0 in the image (as BuildKit), .dockerignore applies. */
  context: boolean;
  /** .dockerignore predicate on a root-relative path (context only; `selector` carries the real matcher). */
  ignored?: (relPath: string) => boolean;
  /**
   * The selector of this root (BuildContext.selector for the build context): selections it
   * walked for the cache key are reused, so the key and the copied files are the same walk.
   */
  selector?: SourceSelector;
}

export interface CopyRequest {
  /** Source paths/patterns as written (expanded), relative to the source root. */
  sources: string[];
  dest: string;
  workdir?: string;
  owner?: { uid: number; gid: number };
  chmod?: (mode: number, isDir: boolean) => number;
  parents: boolean;
  exclude: string[];
  /** Unix seconds for directories created by the copy (and clamp for everything when `clamp`). */
  now: number;
  clamp?: number;
  /** `Dockerfile:LINE` for messages. */
  where: string;
  /** Extra sources that are already files on the host (URL downloads, heredocs) placed by name. */
  extra?: { name: string; entry: Omit<LayerEntry, 'path'> }[];
}

const selectors = new WeakMap<SourceRoot, SourceSelector>();

/** The root's selector: its own, or one made once per root object (walks memoized per build). */
function selectorOf(root: SourceRoot): SourceSelector {
  if (root.selector) return root.selector;
  let s = selectors.get(root);
  if (!s) {
    // a bare predicate cannot say whether "!" exceptions exist: descend into ignored dirs to be safe
    const ignore: PathMatcher | undefined = root.ignored ? { ignores: root.ignored, hasExclusions: true } : undefined;
    s = new SourceSelector({ dir: root.dir, name: root.name, ...(ignore ? { ignore } : {}) });
    selectors.set(root, s);
  }
  return s;
}

interface Ctx {
  req: CopyRequest;
  root: SourceRoot;
  out: Map<string, LayerEntry>;
  /** host inode -> first image path, for hard links inside one copy. */
  inodes: Map<string, string>;
}

function entryFrom(ctx: Ctx, path: string, c: ContextEntry): LayerEntry {
  let mode = c.mode;
  if (ctx.req.chmod && c.type !== 'symlink') mode = ctx.req.chmod(mode, c.type === 'dir');
  const owner = ctx.req.owner ?? (ctx.root.context ? { uid: 0, gid: 0 } : { uid: c.uid, gid: c.gid });
  let mtime = Math.floor(c.mtimeMs / 1000);
  if (ctx.req.clamp !== undefined && mtime > ctx.req.clamp) mtime = ctx.req.clamp;
  const e: LayerEntry = { path, type: c.type, mode, uid: owner.uid, gid: owner.gid, mtime, size: c.size };
  if (c.type === 'file') {
    // the bytes the cache key hashed, when the context kept them; else the file is read when the layer is written
    if (c.content !== undefined && c.content.length === c.size) e.data = c.content;
    else e.source = c.hostPath;
    if (c.nlink > 1) {
      const key = `${c.dev}:${c.ino}`;
      const first = ctx.inodes.get(key);
      if (first !== undefined && first !== path) {
        e.type = 'hardlink';
        e.linkname = first;
        e.size = 0;
        delete e.source;
        delete e.data;
      } else ctx.inodes.set(key, path);
    }
  }
  if (c.linkTarget !== undefined) e.linkname = c.linkTarget;
  return e;
}

function put(ctx: Ctx, e: LayerEntry): void {
  ctx.out.set(e.path, e);
}

/** `COPY --parents ./a/./b/c /d/` -> keeps `b/c` (the part after the last `/./` pivot), else the whole source path. */
function parentsSuffix(written: string, matched: string): string {
  const norm = written.replace(/^\.\//, '');
  const pivot = norm.lastIndexOf('/./');
  if (pivot < 0) return matched;
  const prefix = rel(cleanAbs(norm.slice(0, pivot)));
  return prefix === '' ? matched : matched.slice(prefix.length + 1);
}

/**
 * Resolves the sources of one COPY/ADD into layer entries, with docker's rules:
 * a directory's contents are copied (not the directory); the destination is a
 * directory when it ends in `/`, when there are several sources or a wildcard
 * matched; a missing source is an error naming the Dockerfile line; a source
 * excluded by .dockerignore says so. Parent directories that the image does not
 * have yet are added (owned like the copied files when --chown is given).
 */
export async function resolveCopy(root: SourceRoot, req: CopyRequest, fs: FsView): Promise<LayerEntry[]> {
  const ctx: Ctx = { req, root, out: new Map(), inodes: new Map() };
  const destAbs = cleanAbs(req.dest.startsWith('/') ? req.dest : `${req.workdir ?? '/'}/${req.dest}`);
  const writtenDir = req.dest.endsWith('/') || req.dest === '.' || req.dest.endsWith('/.');
  let matches: SourceMatch[] = [];
  if (req.sources.length > 0) {
    try {
      matches = await selectorOf(root).select(req.sources, { exclude: req.exclude });
    } catch (e) {
      if (!(e instanceof ContextSourceError)) throw e;
      throw new CopySourceError(`${req.where}: ${e.message}`, e.reason === 'missing' && !root.context ? 'check the path inside that stage or image' : e.hint ?? 'check the COPY sources');
    }
  }
  const anyWildcard = matches.some((m) => m.wildcard) || req.sources.some((s) => hasWildcard(s));
  let destIsDir = writtenDir || matches.length + (req.extra?.length ?? 0) > 1 || anyWildcard;
  if (!destIsDir) {
    const existing = await fs.stat(destAbs);
    if (existing?.type === 'dir') destIsDir = true;
  }
  for (const m of matches) {
    const [top, ...below] = m.entries as [ContextEntry, ...ContextEntry[]];
    const base = req.parents ? parentsSuffix(m.source, m.path) : posix.basename(m.path);
    if (m.type === 'dir') {
      const into = req.parents ? cleanAbs(`${destAbs}/${base}`) : destAbs;
      if (req.parents && base !== '') put(ctx, entryFrom(ctx, rel(into), top));
      if (into !== '/' && !ctx.out.has(rel(into)) && (await fs.stat(into)) === undefined) put(ctx, entryFrom(ctx, rel(into), top));
      const prefix = rel(into);
      for (const c of below) put(ctx, entryFrom(ctx, prefix === '' ? c.rel : `${prefix}/${c.rel}`, c));
    } else {
      const target = destIsDir || req.parents ? cleanAbs(`${destAbs}/${base}`) : destAbs;
      put(ctx, entryFrom(ctx, rel(target), top));
    }
  }
  for (const x of req.extra ?? []) {
    const target = destIsDir ? cleanAbs(`${destAbs}/${x.name}`) : destAbs;
    const e: LayerEntry = { ...x.entry, path: rel(target) };
    if (req.owner) {
      e.uid = req.owner.uid;
      e.gid = req.owner.gid;
    }
    if (req.chmod && e.type !== 'symlink') e.mode = req.chmod(e.mode, e.type === 'dir');
    put(ctx, e);
  }
  await addParents(ctx, fs);
  return sortEntries([...ctx.out.values()]);
}

/** Adds directory entries for every parent of every entry that neither the layer nor the image has. */
async function addParents(ctx: Ctx, fs: FsView): Promise<void> {
  const needed = new Set<string>();
  for (const p of ctx.out.keys()) {
    let d = posix.dirname(p);
    while (d !== '.' && d !== '' && !ctx.out.has(d)) {
      needed.add(d);
      d = posix.dirname(d);
    }
  }
  const owner = ctx.req.owner ?? { uid: 0, gid: 0 };
  for (const d of needed) {
    const existing: ExistingPath | undefined = await fs.stat('/' + d);
    if (existing !== undefined) continue;
    put(ctx, { path: d, type: 'dir', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: ctx.req.clamp ?? ctx.req.now, size: 0 });
  }
}
