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
  const base = { path: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs / 1000, size: 0 };
  if (st.isDirectory()) return { ...base, type: 'dir' };
  if (st.isFile()) {
    return {
      ...base, type: 'file', size: st.size, source: { path: abs },
      ...(st.nlink > 1 ? { inode: `${st.dev}:${st.ino}` } : {}),
    };
  }
  if (st.isSymbolicLink()) return { ...base, type: 'symlink', linkname: readlinkSync(abs) };
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const { major, minor } = devNumbers(st.rdev);
    return { ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor };
  }
  if (st.isFIFO()) return { ...base, type: 'fifo' };
  return undefined;
}

/** An overlay whiteout: a character device 0/0. */
export function isOverlayWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}
