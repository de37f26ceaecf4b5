import { lstat, readdir, readlink } from 'node:fs/promises';
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { createRequire } from 'node:module';
import type Micromatch from 'micromatch';
import { SlipwayError } from '../../oci/index.js';
import { DockerignoreError, IgnoreMatcher, parseDockerignore, resolveInRoot } from '../../context/index.js';
import type { ExistingPath, FsView, LayerEntry } from './entries.js';
import { cleanAbs, rel, sortEntries } from './entries.js';

const requireCjs = createRequire(import.meta.url);
let micromatchModule: typeof Micromatch | undefined;
/** micromatch loads on first use: it costs ~25 ms of every CLI start otherwise. */
const micromatch = (): typeof Micromatch => (micromatchModule ??= requireCjs('micromatch') as typeof Micromatch);

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
  /** .dockerignore predicate on a root-relative path (context only). */
  ignored?: (relPath: string) => boolean;
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

const GLOB = /[*?[\]]/;

function hasGlob(p: string): boolean {
  return GLOB.test(p);
}

/** Expands a pattern segment by segment (`*` never crosses `/`, as Go's filepath.Match). */
async function expandGlob(root: string, pattern: string): Promise<string[]> {
  const segs = pattern.split('/').filter((s) => s !== '' && s !== '.');
  let current = [''];
  for (const seg of segs) {
    const next: string[] = [];
    for (const base of current) {
      if (!hasGlob(seg)) {
        const p = base === '' ? seg : `${base}/${seg}`;
        if (await existsInRoot(root, p)) next.push(p);
        continue;
      }
      const names = await readdir(join(root, await resolveInRoot(root, base))).catch(() => [] as string[]);
      for (const n of names.sort()) if (micromatch().isMatch(n, seg, { dot: true })) next.push(base === '' ? n : `${base}/${n}`);
    }
    current = next;
  }
  return current.filter((p) => p !== '');
}

/** Whether `rel` exists in `root`, its parents' symlinks resolved inside the root (the last one not followed). */
async function existsInRoot(root: string, rel: string): Promise<boolean> {
  return lstat(join(root, await resolveInRoot(root, rel, false))).then(() => true, () => false);
}

function fileType(st: Stats): LayerEntry['type'] | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined;
}

/** Source path relative to the root; `..` cannot climb out (as docker: resolved inside the context). */
function cleanSource(p: string): string {
  return rel(cleanAbs(p));
}

interface Ctx {
  req: CopyRequest;
  root: SourceRoot;
  out: Map<string, LayerEntry>;
  /** host inode -> first image path, for hard links inside one copy. */
  inodes: Map<string, string>;
  /** --exclude patterns (undefined: none). */
  exclude?: IgnoreMatcher;
}

/**
 * --exclude patterns in .dockerignore syntax, as BuildKit reads them: "!"
 * exceptions, the last matching pattern wins, a pattern naming a dir covers
 * what is below it.
 */
function excludeMatcher(req: CopyRequest): IgnoreMatcher | undefined {
  if (req.exclude.length === 0) return undefined;
  return new IgnoreMatcher(req.exclude.flatMap((x) => {
    try {
      return parseDockerignore(x);
    } catch (e) {
      if (!(e instanceof DockerignoreError)) throw e;
      throw new CopySourceError(`${req.where}: COPY --exclude=${x}: illegal exclusion pattern`, 'a "!" must be followed by the pattern it re-includes');
    }
  }));
}

function entryFrom(ctx: Ctx, path: string, st: Stats, hostPath: string, linkname?: string): LayerEntry {
  const type = fileType(st) as LayerEntry['type'];
  let mode = st.mode & 0o7777;
  if (ctx.req.chmod && type !== 'symlink') mode = ctx.req.chmod(mode, type === 'dir');
  const owner = ctx.req.owner ?? (ctx.root.context ? { uid: 0, gid: 0 } : { uid: st.uid, gid: st.gid });
  let mtime = Math.floor(st.mtimeMs / 1000);
  if (ctx.req.clamp !== undefined && mtime > ctx.req.clamp) mtime = ctx.req.clamp;
  const e: LayerEntry = { path, type, mode, uid: owner.uid, gid: owner.gid, mtime, size: type === 'file' ? st.size : 0 };
  if (type === 'file') {
    e.source = hostPath;
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = ctx.inodes.get(key);
      if (first !== undefined && first !== path) {
        e.type = 'hardlink';
        e.linkname = first;
        e.size = 0;
        delete e.source;
      } else ctx.inodes.set(key, path);
    }
  }
  if (linkname !== undefined) e.linkname = linkname;
  return e;
}

function excluded(ctx: Ctx, relToRoot: string, relToSrc: string): boolean {
  // BuildKit matches --exclude against the path below the copied source only
  if (ctx.exclude?.ignores(relToSrc) === true) return true;
  return ctx.root.ignored?.(relToRoot) === true;
}

/**
 * Walks a source directory. The metadata calls are synchronous on purpose: thousands of
 * lstat()s answered from the page cache cost microseconds each, where awaiting each one on
 * the thread pool costs a round trip (a cached COPY of 5,000 files spent most of its time idle).
 */
async function addTree(ctx: Ctx, srcRel: string, destPath: string, srcTopRel: string): Promise<void> {
  const names = readdirSync(join(ctx.root.dir, srcRel)).sort();
  for (const n of names) {
    const childRel = srcRel === '' ? n : `${srcRel}/${n}`;
    const relToSrc = srcTopRel === '' ? childRel : childRel.slice(srcTopRel.length + 1);
    if (excluded(ctx, childRel, relToSrc)) {
      // an excluded directory may still hold re-included files ("!" rules of .dockerignore or --exclude)
      const st = lstatSync(join(ctx.root.dir, childRel));
      if (!st.isDirectory() || (ctx.root.ignored === undefined && ctx.exclude?.hasExclusions !== true)) continue;
      const before = ctx.out.size;
      await addTree(ctx, childRel, `${destPath}/${n}`, srcTopRel);
      if (ctx.out.size > before) put(ctx, entryFrom(ctx, `${destPath}/${n}`.replace(/^\//, ''), st, join(ctx.root.dir, childRel)));
      continue;
    }
    const host = join(ctx.root.dir, childRel);
    const st = lstatSync(host);
    const target = `${destPath}/${n}`.replace(/^\/+/, '');
    if (st.isSymbolicLink()) {
      put(ctx, entryFrom(ctx, target, st, host, readlinkSync(host)));
    } else if (st.isDirectory()) {
      put(ctx, entryFrom(ctx, target, st, host));
      await addTree(ctx, childRel, `/${target}`, srcTopRel);
    } else if (st.isFile()) {
      put(ctx, entryFrom(ctx, target, st, host));
    }
    // sockets, fifos and devices are skipped, as BuildKit's context transfer does
  }
}

function put(ctx: Ctx, e: LayerEntry): void {
  ctx.out.set(e.path, e);
}

/** `COPY --parents ./a/./b/c /d/` -> keeps `b/c` (the part after the last `/./` pivot), else the whole source path. */
function parentsSuffix(written: string, matched: string): string {
  const norm = written.replace(/^\.\//, '');
  const pivot = norm.lastIndexOf('/./');
  if (pivot < 0) return matched;
  const prefix = cleanSource(norm.slice(0, pivot));
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
  const exclude = excludeMatcher(req);
  const ctx: Ctx = { req, root, out: new Map(), inodes: new Map(), ...(exclude ? { exclude } : {}) };
  const destAbs = cleanAbs(req.dest.startsWith('/') ? req.dest : `${req.workdir ?? '/'}/${req.dest}`);
  const writtenDir = req.dest.endsWith('/') || req.dest === '.' || req.dest.endsWith('/.');
  const expanded: { written: string; matched: string[]; glob: boolean }[] = [];
  for (const s of req.sources) {
    const clean = cleanSource(s);
    if (hasGlob(clean)) {
      expanded.push({ written: s, matched: await expandGlob(root.dir, clean), glob: true });
      continue;
    }
    if (!(await existsInRoot(root.dir, clean))) {
      throw new CopySourceError(`${req.where}: COPY source "${s}" not found in ${root.name}`, root.context ? 'check the path (it is relative to the build context, not the Dockerfile)' : 'check the path inside that stage or image');
    }
    if (clean !== '' && root.ignored?.(clean) === true) {
      throw new CopySourceError(`${req.where}: COPY source "${s}" is excluded by .dockerignore`, 'remove the matching pattern from .dockerignore or add a "!" exception for it');
    }
    expanded.push({ written: s, matched: [clean], glob: false });
  }
  const matchedCount = expanded.reduce((n, e) => n + e.matched.length, 0) + (req.extra?.length ?? 0);
  let destIsDir = writtenDir || matchedCount > 1 || expanded.some((e) => e.glob);
  if (!destIsDir) {
    const existing = await fs.stat(destAbs);
    if (existing?.type === 'dir') destIsDir = true;
  }
  for (const e of expanded) {
    for (const m of e.matched) {
      if (e.glob && excluded(ctx, m, posix.basename(m))) continue;
      // the named source itself follows symlinks (BuildKit FollowSymlinks), inside the root
      // as a chroot would; a dangling link stays a link
      const real = await resolveInRoot(root.dir, m);
      const realSt = await lstat(join(root.dir, real)).catch(() => undefined);
      const src = realSt !== undefined ? real : await resolveInRoot(root.dir, m, false);
      const host = join(root.dir, src);
      const st = realSt ?? (await lstat(host));
      const base = req.parents ? parentsSuffix(e.written, m) : posix.basename(m);
      if (st.isDirectory()) {
        const into = req.parents ? cleanAbs(`${destAbs}/${base}`) : destAbs;
        if (req.parents && base !== '') put(ctx, entryFrom(ctx, rel(into), st, host));
        if (into !== '/' && !ctx.out.has(rel(into)) && (await fs.stat(into)) === undefined) put(ctx, entryFrom(ctx, rel(into), st, host));
        await addTree(ctx, src, into, src);
      } else if (st.isFile() || st.isSymbolicLink()) {
        const target = destIsDir || req.parents ? cleanAbs(`${destAbs}/${base}`) : destAbs;
        put(ctx, entryFrom(ctx, rel(target), st, host, st.isSymbolicLink() ? await readlink(host) : undefined));
      }
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
