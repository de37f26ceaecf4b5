import { lstatSync, mkdirSync, readlinkSync } from 'node:fs';

/** A path that would leave the root, or cannot be resolved inside it. */
export class UnsafePathError extends Error {
  constructor(readonly entry: string, readonly why: string) {
    super(`${JSON.stringify(entry)} ${why}`);
  }
}

const MAX_SYMLINKS = 40;

/**
 * Splits a tar member name into path components relative to the root. `./`
 * prefixes and trailing slashes go; absolute names and any `..` component are
 * refused (no layer needs them, and they are the classic escape).
 */
export function entryComponents(name: string): string[] {
  if (name.startsWith('/')) throw new UnsafePathError(name, 'is an absolute path');
  const parts = name.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw new UnsafePathError(name, 'contains a ".." component');
  return parts;
}

/** Components of a hard link target: like a member name, but a leading "/" is taken as the root. */
export function linkComponents(name: string): string[] {
  return entryComponents(name.replace(/^\/+/, ''));
}

/**
 * Resolves directories inside a root the way a chroot would: symlinks met on
 * the way are followed, but an absolute target restarts at the root and `..`
 * stops at the root, so nothing resolves outside it. Final components are never
 * followed by callers (they lstat/unlink/O_NOFOLLOW). Results are cached until
 * `invalidate()`, which callers must call after removing or replacing anything.
 */
export class ScopedRoot {
  private cache = new Map<string, string>();

  constructor(readonly root: string) {}

  abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  invalidate(): void {
    this.cache.clear();
  }

  /**
   * The real (symlink-free) relative path of directory `comps`, creating
   * missing directories (0755, owned by the caller) when `create` is set.
   * Returns undefined when a component is missing and `create` is false.
   */
  resolveDir(comps: readonly string[], entry: string, create: boolean, onCreate?: (rel: string) => void): string | undefined {
    const key = comps.join('/');
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const real: string[] = [];
    const queue = [...comps];
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift() as string;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        real.pop();
        continue;
      }
      const rel = [...real, c].join('/');
      const p = this.abs(rel);
      let st;
      try {
        st = lstatSync(p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        if (!create) return undefined;
        mkdirSync(p, 0o755);
        onCreate?.(rel);
        real.push(c);
        continue;
      }
      if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw new UnsafePathError(entry, 'goes through too many symbolic links');
        const target = readlinkSync(p);
        if (target.startsWith('/')) real.length = 0;
        queue.unshift(...target.split('/'));
        continue;
      }
      if (!st.isDirectory()) throw new UnsafePathError(entry, `has a parent that is not a directory (${rel})`);
      real.push(c);
    }
    const out = real.join('/');
    this.cache.set(key, out);
    return out;
  }
}

export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
