import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `mkdir -p` with a mode, that always ends: Node's recursive mkdirSync loops forever where
 * mkdir answers ENOENT under an existing parent (procfs, sysfs: XDG_CACHE_HOME=/proc/x).
 */
export function makeDirs(dir: string, mode: number): void {
  try {
    mkdirSync(dir, { mode });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
    makeDirs(dirname(dir), mode);
    mkdirSync(dir, { mode });
  }
}
