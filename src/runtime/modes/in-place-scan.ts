import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { posix } from 'node:path';
import type { LayerEntry } from '../../snapshot/index.js';
import { entryFromStat } from '../../snapshot/tree-entry.js';
import { fileKind } from '../../snapshot/diff-trees.js';
import type { KeepSet } from './in-place-keep.js';

/** What the differ remembers of one path: enough to tell that its inode was touched. */
interface Seen {
  kind: string;
  /** dev:ino:ctimeNs:mtimeNs:mode:uid:gid:size:nlink */
  sig: string;
}

function sigOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.ctimeNs}:${st.mtimeNs}:${st.mode}:${st.uid}:${st.gid}:${st.size}`;
}

function hostPath(root: string, p: string): string {
  return root === '/' ? p : p === '/' ? root : `${root}${p}`;
}

/**
 * A metadata snapshot of a whole root filesystem, minus kept paths: the
 * full-scan differ of an in-place build, where there is no second tree to
 * compare with. Any write to a file, its metadata or its name changes its
 * ctime (which no process can set back), so "same inode, same ctime" proves a
 * path untouched without hashing content.
 */
export class RootSnapshot {
  private constructor(
    readonly root: string,
    private readonly keep: KeepSet,
    private readonly seen: Map<string, Seen>,
  ) {}

  static take(root: string, keep: KeepSet): RootSnapshot {
    const seen = new Map<string, Seen>();
    walk(root, keep, (p, st) => {
      seen.set(p, { kind: fileKind(st), sig: sigOf(st) });
      return true;
    });
    return new RootSnapshot(root, keep, seen);
  }

  get size(): number {
    return this.seen.size;
  }

  /**
   * Changes since the snapshot, as layer entries (paths relative to the image
   * root): every added or touched path with its parent directories, and a
   * whiteout for each removed path whose parent is still a directory.
   */
  changes(exclude: readonly string[] = []): LayerEntry[] {
    const out = new Map<string, LayerEntry>();
    const present = new Set<string>();
    const excluded = (p: string) => exclude.some((x) => p === x || p.startsWith(`${x}/`));
    const add = (p: string): void => {
      if (p === '/' || out.has(p) || excluded(p)) return;
      const host = hostPath(this.root, p);
      const e = entryFromStat(p.slice(1), host, lstatSync(host));
      if (e) out.set(p, e);
    };
    walk(this.root, this.keep, (p, st) => {
      present.add(p);
      const before = this.seen.get(p);
      const kind = fileKind(st);
      if (before === undefined || before.kind !== kind || before.sig !== sigOf(st)) {
        // a directory whose only change is its own mtime/ctime (an entry added or removed) is
        // still added: its new children or whiteouts need it as parent anyway
        add(p);
        for (let d = posix.dirname(p); d !== '/'; d = posix.dirname(d)) add(d);
      }
      return true;
    });
    for (const [p] of this.seen) {
      if (present.has(p) || excluded(p)) continue;
      const parent = posix.dirname(p);
      // only the topmost removed path needs a whiteout; a parent replaced by a non-directory hides it anyway
      if (parent !== '/' && !((present.has(parent) || this.keep.holdsKept(parent)) && isDir(this.root, parent))) continue;
      out.set(p, { path: p.slice(1), type: 'whiteout', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 });
      for (let d = parent; d !== '/'; d = posix.dirname(d)) add(d);
    }
    return [...out.values()];
  }
}

function isDir(root: string, p: string): boolean {
  try {
    return lstatSync(hostPath(root, p)).isDirectory();
  } catch {
    return false;
  }
}

/** Depth-first over `root` without kept paths; never crosses into them. */
function walk(root: string, keep: KeepSet, visit: (p: string, st: BigIntStats) => boolean): void {
  const stack: string[] = ['/'];
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    let names: string[];
    try {
      names = readdirSync(hostPath(root, dir));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw e;
    }
    for (const name of names) {
      const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
      if (keep.isKept(p)) continue;
      let st: BigIntStats;
      try {
        st = lstatSync(hostPath(root, p), { bigint: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      if (keep.holdsKept(p)) {
        // the directory itself is part of the image; what it holds is walked around the kept path
        if (st.isDirectory()) stack.push(p);
        continue;
      }
      if (visit(p, st) && st.isDirectory()) stack.push(p);
    }
  }
}
