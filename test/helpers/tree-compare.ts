import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A normalized listing of a tree for comparisons: one line per entry with path,
 * type, mode, owner, and content hash or link target. Mtimes are left out
 * (clamping changes them); hard links are shown by their shared content.
 */
export function normalizedTree(root: string, skip: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip(r)) continue;
      const p = join(root, r);
      const st = lstatSync(p);
      const head = `${r} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.push(`${head} dir`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`${head} -> ${readlinkSync(p)}`);
      else if (st.isFile()) out.push(`${head} file ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`);
      else if (st.isCharacterDevice() || st.isBlockDevice()) out.push(`${head} dev ${st.rdev}`);
      else if (st.isFIFO()) out.push(`${head} fifo`);
    }
  };
  walk('');
  return out;
}
