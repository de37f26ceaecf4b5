import { readlinkSync, type Stats } from 'node:fs';
import type { LayerEntry } from './changes.js';

/** Linux major/minor from st_rdev (glibc's gnu_dev_major/minor encoding). */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return { major, minor };
}

/**
 * The layer entry for a file on disk (`abs`, at image path `rel`), or undefined
 * for what a layer cannot hold (sockets).
 */
export function entryFromStat(rel: string, abs: string, st: Stats): LayerEntry | undefined {
  // Object literals with one shape rather than spreads: this runs once per file of a tree.
  const mode = st.mode & 0o7777;
  const mtime = st.mtimeMs / 1000;
  if (st.isFile()) {
    const e: LayerEntry = { path: rel, type: 'file', mode, uid: st.uid, gid: st.gid, mtime, size: st.size, source: { path: abs } };
    if (st.nlink > 1) e.inode = `${st.dev}:${st.ino}`;
    return e;
  }
  if (st.isDirectory()) return { path: rel, type: 'dir', mode, uid: st.uid, gid: st.gid, mtime, size: 0 };
  if (st.isSymbolicLink()) return { path: rel, type: 'symlink', mode, uid: st.uid, gid: st.gid, mtime, size: 0, linkname: readlinkSync(abs) };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const { major, minor } = devNumbers(st.rdev);
    return { path: rel, type: st.isCharacterDevice() ? 'char' : 'block', mode, uid: st.uid, gid: st.gid, mtime, size: 0, devmajor: major, devminor: minor };
  }
  if (st.isFIFO()) return { path: rel, type: 'fifo', mode, uid: st.uid, gid: st.gid, mtime, size: 0 };
  return undefined;
}

/** An overlay whiteout: a character device 0/0. */
export function isOverlayWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}
