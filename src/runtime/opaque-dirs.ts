import { resolve, sep } from 'node:path';
import { readTreeXattrs } from '../snapshot/xattrs.js';

/** The opaque-dir xattrs of kernel overlayfs (real root / userxattr) and fuse-overlayfs. */
const OPAQUE_XATTRS = '^(trusted|user)\\.(overlay|fuseoverlayfs)\\.opaque$';

/**
 * Opaque dirs of overlay lower dirs on disk (the lowers of `slipway run-step`,
 * which come with no layer tars to read `.wh..wh..opq` from): per lower,
 * topmost first, the container paths whose opaque xattr is "y", in the shape
 * RunSpec.lowerOpaqueDirs takes. One getfattr walk over all lowers but the
 * bottom one (nothing is below it to hide).
 */
export async function lowerOpaqueDirsOnDisk(lowers: readonly string[]): Promise<Set<string>[]> {
  const out = lowers.map(() => new Set<string>());
  const roots = lowers.slice(0, -1).map((l) => resolve(l));
  if (roots.length === 0) return out;
  const found = await readTreeXattrs(roots, OPAQUE_XATTRS);
  for (const [path, attrs] of found) {
    if (![...attrs.values()].some((v) => v.toString('utf8') === 'y')) continue;
    // the lower holding it: the longest root that is a prefix (lowers may nest)
    let best = -1;
    for (let i = 0; i < roots.length; i++) {
      const r = roots[i]!;
      if ((path === r || path.startsWith(r + sep)) && (best < 0 || r.length > roots[best]!.length)) best = i;
    }
    if (best >= 0) out[best]!.add(path === roots[best] ? '/' : path.slice(roots[best]!.length));
  }
  return out;
}
