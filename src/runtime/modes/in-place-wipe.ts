import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { posix } from 'node:path';
import type { KeepSet } from './in-place-keep.js';

function abs(root: string, p: string): string {
  return root === '/' ? p : `${root}${p}`;
}

/**
 * Removes everything below image path `dir` (itself stays) except kept paths:
 * what Kaniko does before unpacking a stage's base image. Directories that hold
 * a kept path are descended into, never removed.
 */
export function wipeExceptKept(root: string, dir: string, keep: KeepSet): void {
  let names: string[];
  try {
    names = readdirSync(abs(root, dir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw e;
  }
  for (const name of names) {
    const p = posix.join(dir, name);
    if (keep.isKept(p)) continue;
    if (keep.holdsKept(p)) {
      const st = lstatSync(abs(root, p));
      if (st.isDirectory()) {
        wipeExceptKept(root, p, keep);
        continue;
      }
    }
    rmSync(abs(root, p), { recursive: true, force: true, maxRetries: 2 });
  }
}
