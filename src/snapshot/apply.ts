import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, closeSync, constants as C, copyFileSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync,
  lstatSync, lutimesSync, mkdirSync, openSync, readFileSync, readlinkSync, readdirSync, rmSync, symlinkSync, utimesSync, writeSync,
  type Stats,
} from 'node:fs';
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { decompressed } from './compression.js';
import { SlipwayError } from '../oci/index.js';
import { LayerCorruptError, LayerUnsafeError, UnsupportedCompressionError } from './errors.js';
import { ScopedRoot, UnsafePathError, entryComponents, joinRel, linkComponents } from './paths.js';
import { DEFAULT_TAR_LIMITS, type TarEntry, TarFormatError, TarLimitError, type TarLimits, readTar } from './tar-reader.js';
import { type XattrWrite, isPortableXattr, writeXattrs } from './xattrs.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_WHITEOUT = '.wh..wh..opq';

export interface ApplyOptions {
  /** Name of the layer in messages (its digest). */
  layer: string;
  /**
   * `flatten`: apply onto an existing tree, deleting what whiteouts name (a rootfs).
   * `overlay`: unpack one layer into an empty dir usable as an overlay lower dir,
   * turning whiteouts into 0/0 character devices and opaque markers into xattrs.
   */
  mode: 'flatten' | 'overlay';
  /** overlay mode: dirs of the layers below (nearest first), for hard links into earlier layers. */
  lowerDirs?: readonly string[];
  /** Which opaque xattr(s) overlay mode writes. Default: trusted and user as real root, user otherwise. */
  opaqueXattrs?: readonly string[];
  /** chown entries to their tar uid/gid. Default: when running as (namespace) root. */
  chown?: boolean;
  limits?: Partial<TarLimits> & { maxLayerSize?: number };
  onWarning?(message: string): void;
}

export interface ApplyResult {
  entries: number;
  bytes: number;
  format: string;
  warnings: string[];
  /** sha256 of the uncompressed tar, to check against the config's diff_ids. */
  diffId: string;
  /**
   * overlay mode: the dirs marked opaque (root-relative, '' for the root), sorted. Kept by the
   * unpack cache so overlay users (RootfsView) need not read xattrs or the layer again.
   */
  opaqueDirs: string[];
}

interface DirAttrs {
  rel: string;
  mode: number;
  mtime: number;
}

/** Is this process root in the user namespace it runs in (inside a userns with a root map: yes). */
export function runningAsRoot(): boolean {
  return process.geteuid?.() === 0;
}

/** True when real root in the initial user namespace (can set trusted.* xattrs). */
export function inInitialUserNamespace(): boolean {
  try {
    const map = readFileSync('/proc/self/uid_map', 'utf8');
    return /^\s*0\s+0\s+4294967295\s*$/m.test(map);
  } catch {
    return false;
  }
}


function lstatMaybe(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Applies one layer (compressed or not, sniffed by magic bytes) to `root`,
 * following the image-spec changeset rules. Every path is resolved inside
 * `root` (symlinks followed as in a chroot, final components never followed);
 * hostile names, escaping links and absurd sizes are refused with
 * LayerUnsafeError, broken archives with LayerCorruptError. On error the root
 * may hold a partial layer: callers unpack into a temp dir and discard it.
 */
export async function applyLayer(input: Readable | AsyncIterable<Buffer>, root: string, opts: ApplyOptions): Promise<ApplyResult> {
  const a = new Applier(root, opts);
  const hash = createHash('sha256');
  let format = 'unknown';
  try {
    const d = await decompressed(input);
    format = d.format;
    for await (const entry of readTar(hashed(d.stream, hash), { ...DEFAULT_TAR_LIMITS, ...opts.limits })) {
      await a.entry(entry);
    }
    await a.finish();
  } catch (e) {
    if (input && typeof (input as Readable).destroy === 'function') (input as Readable).destroy();
    throw classify(e, opts.layer);
  }
  return { entries: a.count, bytes: a.bytes, format, warnings: a.warnings, diffId: `sha256:${hash.digest('hex')}`, opaqueDirs: a.opaqueDirs };
}

async function* hashed(src: AsyncIterable<Buffer>, h: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const c of src) {
    h.update(c);
    yield c;
  }
}

function classify(e: unknown, layer: string): unknown {
  if (e instanceof UnsafePathError) return new LayerUnsafeError(layer, e.entry, e.why);
  if (e instanceof TarLimitError) return new LayerUnsafeError(layer, e.entry, e.message);
  if (e instanceof TarFormatError) return new LayerCorruptError(layer, e.message, e);
  if (e instanceof UnsupportedCompressionError && !e.message.includes(layer)) return new UnsupportedCompressionError(`layer ${layer}: ${e.message}`, e.hint ?? '');
  if (e instanceof SlipwayError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const msg = (e as Error).message ?? String(e);
  if (code.startsWith('Z_') || code === 'ERR_ZLIB' || /zstd .*failed|incorrect header|unexpected end of file/i.test(msg)) {
    return new LayerCorruptError(layer, `decompression failed: ${msg}`, e);
  }
  const wrapped = new Error(`unpacking layer ${layer}: ${msg}`, { cause: e });
  return wrapped;
}

class Applier {
  readonly scoped: ScopedRoot;
  readonly thisLayer = new Set<string>();
  readonly dirs: DirAttrs[] = [];
  readonly whiteouts = new Set<string>();
  readonly opaque = new Set<string>();
  readonly xattrs: XattrWrite[] = [];
  readonly warnings: string[] = [];
  readonly skippedDevices: string[] = [];
  readonly chown: boolean;
  readonly maxLayerSize: number;
  count = 0;
  bytes = 0;
  /**
   * overlay mode into an empty dir: a path exists only if this layer made it (thisLayer
   * holds every path written or implicitly created), so new paths skip the lstat.
   */
  private readonly fresh: boolean;
  /** Opaque dirs written (overlay mode), set by finish(). */
  opaqueDirs: string[] = [];
  private chownWarned = false;

  constructor(readonly root: string, readonly opts: ApplyOptions) {
    this.scoped = new ScopedRoot(root);
    this.chown = opts.chown ?? runningAsRoot();
    this.maxLayerSize = opts.limits?.maxLayerSize ?? 2 ** 42;
    this.fresh = opts.mode === 'overlay' && readdirSync(root).length === 0;
  }

  private warn(msg: string): void {
    this.warnings.push(msg);
    this.opts.onWarning?.(msg);
  }

  private own(fn: () => void, rel: string): void {
    if (!this.chown) return;
    try {
      fn();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EINVAL') throw e;
      if (!this.chownWarned) {
        this.chownWarned = true;
        this.warn(`layer ${this.opts.layer}: cannot set ownership of ${rel} and possibly others (${code}); files keep the current user's ids (no subordinate id range?)`);
      }
    }
  }

  async entry(e: TarEntry): Promise<void> {
    this.count += 1;
    const comps = entryComponents(e.name);
    if (comps.length === 0) {
      if (e.type !== 'dir') throw new UnsafePathError(e.name, 'replaces the root directory with a non-directory');
      this.own(() => lchownSync(this.root, e.uid, e.gid), '.');
      this.dirs.push({ rel: '', mode: e.mode, mtime: e.mtime });
      return;
    }
    const base = comps[comps.length - 1] as string;
    const parentComps = comps.slice(0, -1);

    if (base.startsWith(WHITEOUT_PREFIX)) {
      this.whiteout(e, parentComps, base);
      return;
    }
    const parent = this.scoped.resolveDir(parentComps, e.name, true, (rel) => this.implicitParent(rel)) as string;
    const rel = joinRel(parent, base);
    const p = this.scoped.abs(rel);
    const existing = this.fresh && !this.thisLayer.has(rel) ? undefined : lstatMaybe(p);
    if (existing !== undefined && !(existing.isDirectory() && e.type === 'dir')) {
      if (e.type === 'hardlink' && this.sameAsLinkTarget(e, existing)) {
        this.thisLayer.add(rel);
        return;
      }
      rmSync(p, { recursive: true, force: true });
      if (existing.isDirectory() || existing.isSymbolicLink()) this.scoped.invalidate();
    }

    switch (e.type) {
      case 'dir':
        if (existing === undefined || !existing.isDirectory()) mkdirSync(p, 0o700);
        this.own(() => lchownSync(p, e.uid, e.gid), rel);
        this.dirs.push({ rel, mode: e.mode, mtime: e.mtime });
        break;
      case 'file':
        await this.writeFile(e, p, rel);
        break;
      case 'symlink':
        symlinkSync(e.linkname, p);
        this.own(() => lchownSync(p, e.uid, e.gid), rel);
        lutimesSync(p, e.mtime, e.mtime);
        break;
      case 'hardlink':
        this.hardlink(e, p);
        break;
      case 'char':
      case 'block':
      case 'fifo':
        if (!this.mknod(e, p, rel)) return;
        break;
    }
    this.thisLayer.add(rel);
    for (const [name, value] of e.xattrs) {
      if (isPortableXattr(name)) this.xattrs.push({ rel, name, value });
    }
  }

  private sameAsLinkTarget(e: TarEntry, existing: Stats): boolean {
    const t = this.linkTarget(e, false);
    if (t === undefined) return false;
    const st = lstatMaybe(this.scoped.abs(t));
    return st !== undefined && st.ino === existing.ino && st.dev === existing.dev;
  }

  /** Relative path of a hard link's target inside the root, or undefined if missing. */
  private linkTarget(e: TarEntry, mustExist: boolean): string | undefined {
    const tc = linkComponents(e.linkname);
    if (tc.length === 0) throw new UnsafePathError(e.name, 'is a hard link to the root directory');
    const tparent = this.scoped.resolveDir(tc.slice(0, -1), e.name, false);
    if (tparent === undefined) {
      if (mustExist) throw new UnsafePathError(e.name, `is a hard link to ${JSON.stringify(e.linkname)}, which does not exist`);
      return undefined;
    }
    return joinRel(tparent, tc[tc.length - 1] as string);
  }

  private hardlink(e: TarEntry, p: string): void {
    const tc = linkComponents(e.linkname);
    const target = this.linkTarget(e, this.opts.mode === 'flatten' || (this.opts.lowerDirs ?? []).length === 0);
    const st = target === undefined ? undefined : lstatMaybe(this.scoped.abs(target));
    if (st !== undefined && !(st.isCharacterDevice() && st.rdev === 0 && this.opts.mode === 'overlay')) {
      if (st.isDirectory()) throw new UnsafePathError(e.name, 'is a hard link to a directory');
      linkSync(this.scoped.abs(target as string), p);
      return;
    }
    if (this.opts.mode === 'overlay') {
      for (const lower of this.opts.lowerDirs ?? []) {
        const ls = new ScopedRoot(lower);
        const lp = ls.resolveDir(tc.slice(0, -1), e.name, false);
        if (lp === undefined) continue;
        const src = ls.abs(joinRel(lp, tc[tc.length - 1] as string));
        const sst = lstatMaybe(src);
        if (sst === undefined) continue;
        if (sst.isCharacterDevice() && sst.rdev === 0) break; // whited out below
        if (sst.isDirectory()) throw new UnsafePathError(e.name, 'is a hard link to a directory');
        // An overlay lower dir cannot hard-link across layers: copy the file up.
        if (sst.isSymbolicLink()) symlinkSync(readlinkSync(src), p);
        else if (sst.isFile()) copyFileSync(src, p, C.COPYFILE_EXCL);
        else throw new UnsafePathError(e.name, 'is a hard link to a special file in an earlier layer');
        this.own(() => lchownSync(p, sst.uid, sst.gid), p);
        if (!sst.isSymbolicLink()) chmodSync(p, sst.mode & 0o7777);
        lutimesSync(p, sst.atime, sst.mtime);
        return;
      }
    }
    throw new UnsafePathError(e.name, `is a hard link to ${JSON.stringify(e.linkname)}, which does not exist`);
  }

  private async writeFile(e: TarEntry, p: string, rel: string): Promise<void> {
    const fd = openSync(p, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of e.body) {
        this.bytes += chunk.length;
        if (this.bytes > this.maxLayerSize) throw new TarLimitError(e.name, `layer content exceeds ${this.maxLayerSize} bytes`);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      }
      this.own(() => fchownSync(fd, e.uid, e.gid), rel);
      fchmodSync(fd, e.mode & 0o7777);
      futimesSync(fd, e.mtime, e.mtime);
    } finally {
      closeSync(fd);
    }
  }

  private mknod(e: TarEntry, p: string, rel: string): boolean {
    const kind = e.type === 'char' ? ['c', String(e.devmajor), String(e.devminor)] : e.type === 'block' ? ['b', String(e.devmajor), String(e.devminor)] : ['p'];
    const r = spawnSync('mknod', ['-m', (e.mode & 0o7777).toString(8), p, ...kind], { encoding: 'utf8' });
    if (r.status !== 0) {
      if (e.type === 'fifo') throw new Error(`creating fifo ${rel}: ${r.stderr || r.error?.message}`);
      this.skippedDevices.push(rel);
      return false;
    }
    this.own(() => lchownSync(p, e.uid, e.gid), rel);
    lutimesSync(p, e.mtime, e.mtime);
    return true;
  }

  private whiteout(e: TarEntry, parentComps: string[], base: string): void {
    const overlay = this.opts.mode === 'overlay';
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw new UnsafePathError(e.name, 'is a whiteout for an invalid name');
    const parent = this.scoped.resolveDir(parentComps, e.name, overlay, (rel) => this.implicitParent(rel));
    if (parent === undefined) return; // nothing below to hide
    if (base === OPAQUE_WHITEOUT) {
      if (overlay) this.opaque.add(parent);
      else this.removeLowerChildren(parent);
      return;
    }
    if (base.startsWith('.wh..wh.')) return; // aufs bookkeeping (.wh..wh.plnk etc.)
    const target = joinRel(parent, hidden);
    if (this.thisLayer.has(target)) return; // whiteouts only hide lower layers
    if (overlay) {
      this.whiteouts.add(target);
      return;
    }
    const st = lstatMaybe(this.scoped.abs(target));
    if (st === undefined) return;
    rmSync(this.scoped.abs(target), { recursive: true, force: true });
    if (st.isDirectory() || st.isSymbolicLink()) this.scoped.invalidate();
  }

  /** Opaque whiteout in flatten mode: drop everything under `dir` that this layer did not write. */
  private removeLowerChildren(dir: string): void {
    let names: string[];
    try {
      names = readdirSync(this.scoped.abs(dir));
    } catch {
      return;
    }
    for (const n of names) {
      const rel = joinRel(dir, n);
      const p = this.scoped.abs(rel);
      if (!this.thisLayer.has(rel)) {
        rmSync(p, { recursive: true, force: true });
        this.scoped.invalidate();
      } else if (lstatSync(p).isDirectory()) {
        this.removeLowerChildren(rel);
      }
    }
  }

  /** True when `rel` is a real directory chain inside the root (no symlink anywhere). */
  private isRealPath(rel: string): boolean {
    if (rel === '') return true;
    const comps = rel.split('/');
    const parent = this.scoped.resolveDir(comps.slice(0, -1), rel, false);
    return parent === comps.slice(0, -1).join('/') && lstatMaybe(this.scoped.abs(rel)) !== undefined;
  }

  /**
   * A parent directory the tar does not list. In a flat rootfs it only appears
   * where nothing was below. In overlay mode this dir is a lower of its own and its
   * attributes win over the same dir in the layers below, so it takes the nearest
   * lower's owner, mode and mtime: a layer listing only `home/user/work/` must not
   * turn `home/user` (1000:1000 below) into root's.
   */
  private implicitParent(rel: string): void {
    this.thisLayer.add(rel);
    if (this.opts.mode !== 'overlay') return;
    for (const lower of this.opts.lowerDirs ?? []) {
      const st = lstatMaybe(join(lower, rel));
      if (st === undefined) continue;
      if (st.isDirectory()) {
        const p = this.scoped.abs(rel);
        this.own(() => lchownSync(p, st.uid, st.gid), rel);
        this.dirs.push({ rel, mode: st.mode, mtime: st.mtimeMs / 1000 });
      }
      return; // a whiteout, file or symlink below: nothing to mirror
    }
  }

  async finish(): Promise<void> {
    this.scoped.invalidate();
    if (this.opts.mode === 'overlay') {
      const list = [...this.whiteouts].filter((w) => !this.thisLayer.has(w) && this.isRealPath(w.split('/').slice(0, -1).join('/')));
      for (let i = 0; i < list.length; i += 500) {
        const batch = list.slice(i, i + 500);
        const r = spawnSync('sh', ['-c', 'for p do mknod "$p" c 0 0 || exit 1; done', 'sh', ...batch], { cwd: this.root, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`creating overlay whiteouts in ${this.root}: ${r.stderr || r.error?.message}`);
      }
      const names = this.opts.opaqueXattrs ?? (runningAsRoot() && inInitialUserNamespace() ? ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque'] : ['user.overlay.opaque', 'user.fuseoverlayfs.opaque']);
      for (const d of this.opaque) for (const name of names) this.xattrs.push({ rel: d, name, value: Buffer.from('y') });
      this.opaqueDirs = [...this.opaque].filter((d) => this.isRealPath(d)).sort();
    }
    const safe = this.xattrs.filter((x) => this.isRealPath(x.rel));
    for (const w of await writeXattrs(this.root, safe)) this.warn(`layer ${this.opts.layer}: ${w}`);
    // Directories last and deepest first, so creating children does not disturb parents' mtimes.
    this.dirs.sort((x, y) => depth(y.rel) - depth(x.rel));
    for (const d of this.dirs) {
      if (!this.isRealPath(d.rel)) continue;
      const p = this.scoped.abs(d.rel);
      if (!lstatSync(p).isDirectory()) continue;
      chmodSync(p, d.mode & 0o7777);
      utimesSync(p, d.mtime, d.mtime);
    }
    if (this.skippedDevices.length > 0) {
      const some = this.skippedDevices.slice(0, 5).join(', ');
      this.warn(`layer ${this.opts.layer}: skipped ${this.skippedDevices.length} device node(s) (${some}${this.skippedDevices.length > 5 ? ', ...' : ''}): not permitted here, as in rootless runtimes`);
    }
  }
}

function depth(rel: string): number {
  return rel === '' ? 0 : rel.split('/').length;
}
