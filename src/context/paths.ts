import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { SlipwayError } from '../oci/errors.js';

const MAX_LINKS = 255;

export class ContextPathError extends SlipwayError {
  constructor(path: string, why: string, hint = 'check the path relative to the build context') {
    super('CONTEXT_PATH', `${path}: ${why}`, { hint });
  }
}

/**
 * Cleans a path given in a Dockerfile into a path relative to the context
 * root: absolute paths are taken from the root, `..` cannot climb above it
 * (`../x` is `x`, as docker does). Returns '' for the root itself.
 */
export function cleanContextPath(p: string): string {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') parts.pop();
    else parts.push(c);
  }
  return parts.join('/');
}

/**
 * Resolves `rel` inside `root` following symlinks the way a chroot would:
 * absolute link targets start at `root`, `..` stops at `root`. With
 * `followFinal: false` the last component is not followed (a symlink stays a
 * symlink). Returns the cleaned relative path inside the root ('' = root);
 * missing components are kept as they are.
 */
export async function resolveInRoot(root: string, rel: string, followFinal = true): Promise<string> {
  return resolveInRootSync(root, rel, followFinal);
}

/**
 * resolveInRoot without the promise: a few lstat()s answered from the page cache cost
 * microseconds, a thread-pool round trip each costs more (thousands of wildcard matches).
 */
export function resolveInRootSync(root: string, rel: string, followFinal = true): string {
  let pending = cleanContextPath(rel).split('/').filter((c) => c !== '');
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.shift() as string;
    if (c === '..') {
      done.pop();
      continue;
    }
    if (c === '.') continue;
    if (pending.length === 0 && !followFinal) {
      done.push(c);
      break;
    }
    const host = `${root}/${done.length > 0 ? `${done.join('/')}/` : ''}${c}`;
    let st;
    try {
      st = lstatSync(host, { throwIfNoEntry: false });
    } catch {
      st = undefined; // ENOTDIR: a file in the middle of the path
    }
    if (st === undefined) {
      done.push(c, ...pending);
      pending = [];
      break;
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++hops > MAX_LINKS) throw new ContextPathError([...done, c].join('/'), 'too many levels of symbolic links');
    const target = readlinkSync(host);
    const tparts = target.split('/').filter((x) => x !== '');
    if (posix.isAbsolute(target)) done.length = 0;
    pending = [...tparts, ...pending];
  }
  return cleanContextPath(done.join('/'));
}
