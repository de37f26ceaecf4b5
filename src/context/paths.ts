import { lstat, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
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
    const candidate = [...done, c];
    if (pending.length === 0 && !followFinal) {
      done.push(c);
      break;
    }
    let st;
    try {
      st = await lstat(join(root, ...candidate));
    } catch {
      done.push(c, ...pending);
      pending = [];
      break;
    }
    if (!st.isSymbolicLink()) {
      done.push(c);
      continue;
    }
    if (++hops > MAX_LINKS) throw new ContextPathError(candidate.join('/'), 'too many levels of symbolic links');
    const target = await readlink(join(root, ...candidate));
    const tparts = target.split('/').filter((x) => x !== '');
    if (posix.isAbsolute(target)) done.length = 0;
    pending = [...tparts, ...pending];
  }
  return cleanContextPath(done.join('/'));
}
