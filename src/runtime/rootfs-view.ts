import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';

/** A lower dir ensureDir mirrored into the writable layer, with the attributes it gave the copy. */
export interface MirroredDir {
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

/** A dir of the writable layer runStep put mount points in: times before, mtime after its writes. */
export interface TouchedDir {
  path: string;
  atimeMs: number;
  mtimeMs: number;
  setupMtimeMs: number;
}

/**
 * A read view of a container root filesystem that is not mounted here: a stack
 * of directories, topmost first (the writable one, then overlay lowers). Paths
 * resolve as inside the container: symlinks never leave the root, overlay
 * whiteouts (0:0 char devices and `.wh.` files) hide lower entries.
 * Opaque directories cannot be seen on disk (Node has no xattr API): the caller
 * names them per layer, from the layer tars (`.wh..wh..opq` entries).
 */
export class RootfsView {
  /** Dirs of the writable layer that ensureDir/ensureFile created entries in: their times before the first. */
  private readonly touched = new Map<string, { atimeMs: number; mtimeMs: number }>();

  /**
   * layers[0] is writable: the rootfs dir, or the overlay upper dir.
   * opaque[i]: container paths ("/data") that are opaque dirs in layers[i]
   * (they hide what the layers below hold under them).
   */
  constructor(readonly layers: readonly string[], readonly opaque: readonly (ReadonlySet<string> | undefined)[] = []) {}

  /** Container path with every symlink resolved (inside the root), plus where it lives. */
  resolve(path: string, followFinal = true): { path: string; host: string | undefined; stat: Stats | undefined } {
    let todo = splitPath(path);
    const done: string[] = [];
    let hops = 0;
    while (todo.length > 0) {
      const comp = todo.shift()!;
      if (comp === '..') {
        done.pop();
        continue;
      }
      const candidate = '/' + [...done, comp].join('/');
      const found = this.find(candidate);
      if (found && found.stat.isSymbolicLink() && (todo.length > 0 || followFinal)) {
        if (++hops > 40) return { path: candidate, host: undefined, stat: undefined };
        const target = readlinkSync(found.host);
        if (target.startsWith('/')) done.length = 0;
        todo = [...splitPath(target), ...todo];
        continue;
      }
      done.push(comp);
      if (!found && todo.length > 0) {
        // The rest cannot exist; keep the lexical remainder.
        const rest = todo.filter((c) => c !== '.');
        return { path: posix.normalize('/' + [...done, ...rest].join('/')), host: undefined, stat: undefined };
      }
      if (todo.length === 0) return { path: candidate, host: found?.host, stat: found?.stat };
    }
    return { path: '/', host: this.layers[0], stat: lstatSync(this.layers[0]!) };
  }

  /** Topmost entry for a symlink-free container path, or undefined (missing or whited out). */
  find(path: string): { host: string; stat: Stats; layer: number } | undefined {
    const dir = posix.dirname(path);
    const base = posix.basename(path);
    for (let i = 0; i < this.layers.length; i++) {
      const host = join(this.layers[i]!, path);
      const st = lstatQuiet(host);
      if (st) {
        if (st.isCharacterDevice() && st.rdev === 0) return undefined;
        return { host, stat: st, layer: i };
      }
      if (lstatQuiet(join(this.layers[i]!, dir, `.wh.${base}`))) return undefined;
      if (this.hiddenBelow(i, path)) return undefined;
    }
    return undefined;
  }

  /** Whether an opaque ancestor dir in layers[i] hides `path` in the layers below it. */
  private hiddenBelow(i: number, path: string): boolean {
    const set = this.opaque[i];
    if (set === undefined || set.size === 0) return false;
    for (let d = posix.dirname(path); ; d = posix.dirname(d)) {
      if (set.has(d)) return true;
      if (d === '/' || d === '.') return false;
    }
  }

  /** Reads a file of the container (following symlinks), or undefined. */
  readFile(path: string): string | undefined {
    const r = this.resolve(path);
    if (!r.host || !r.stat?.isFile()) return undefined;
    try {
      return readFileSync(r.host, 'utf8');
    } catch {
      return undefined;
    }
  }

  /**
   * Makes sure a directory exists at the (resolved) container path, creating the
   * missing parts in the writable layer (parents copied with their lower
   * attributes, new ones owned by `owner`). Returns the created container paths,
   * and the lower dirs it mirrored into the writable layer with the attributes
   * it gave them (a copy-up of its own making: no change of the step's).
   */
  ensureDir(path: string, owner?: { uid: number; gid: number }, materialize = false): { path: string; created: string[]; mirrored: MirroredDir[] } {
    const r = this.resolve(path);
    const created: string[] = [];
    const mirrored: MirroredDir[] = [];
    if (!materialize && r.stat?.isDirectory()) return { path: r.path, created, mirrored };
    const comps = splitPath(r.path);
    let cur = '';
    for (const c of comps) {
      cur += '/' + c;
      const top = join(this.layers[0]!, cur);
      const found = this.find(cur);
      if (found && found.layer === 0) continue;
      if (found) {
        // Exists in a lower layer: give the upper a matching dir so children can be written.
        mkdirSync(top);
        // 65534: the owner is not mapped into this user namespace; leave it ours.
        if (found.stat.uid !== 65534 && found.stat.gid !== 65534) chownQuiet(top, found.stat.uid, found.stat.gid);
        // after chown (which clears setuid/setgid bits); chmod is not subject to the umask (a 1777 /tmp stays 1777)
        chmodSync(top, found.stat.mode & 0o7777);
        const st = lstatSync(top);
        mirrored.push({ path: cur, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
        continue;
      }
      this.noteParent(cur);
      mkdirSync(top, { mode: 0o755 });
      if (owner) chownQuiet(top, owner.uid, owner.gid);
      created.push(cur);
    }
    return { path: r.path, created, mirrored };
  }

  /** Makes sure a file (mount point) exists at the container path; returns created paths. */
  ensureFile(path: string): { path: string; created: string[]; mirrored: MirroredDir[] } {
    const r = this.resolve(path);
    if (r.stat) return { path: r.path, created: [], mirrored: [] };
    const { created, mirrored } = this.ensureDir(posix.dirname(r.path), undefined, true);
    this.noteParent(r.path);
    writeFileSync(join(this.layers[0]!, r.path), '', { mode: 0o644 });
    return { path: r.path, created: [...created, r.path], mirrored };
  }

  /**
   * Dirs that were already in the writable layer (a vfs rootfs) and got an entry
   * from ensureDir/ensureFile, so their mtime moved: the times they had before,
   * and the mtime they have now (after runStep's writes, before the step's).
   */
  touchedDirs(): TouchedDir[] {
    const out: TouchedDir[] = [];
    for (const [path, t] of this.touched) {
      const st = lstatQuiet(join(this.layers[0]!, path));
      if (st?.isDirectory()) out.push({ path, atimeMs: t.atimeMs, mtimeMs: t.mtimeMs, setupMtimeMs: st.mtimeMs });
    }
    return out;
  }

  private noteParent(child: string): void {
    const dir = posix.dirname(child);
    if (this.touched.has(dir)) return;
    const st = lstatQuiet(join(this.layers[0]!, dir));
    if (st?.isDirectory()) this.touched.set(dir, { atimeMs: st.atimeMs, mtimeMs: st.mtimeMs });
  }
}

function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

function lstatQuiet(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function chownQuiet(p: string, uid: number, gid: number): void {
  try {
    chownSync(p, uid, gid);
  } catch {
    /* single-ID map: ownership other than root cannot be set */
  }
}
