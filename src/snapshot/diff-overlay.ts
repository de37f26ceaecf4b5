import { lstatSync, readdirSync } from 'node:fs';
import type { LayerEntry } from './changes.js';
import { SnapshotError } from './errors.js';
import { type LayerResult, type WriteLayerOptions, writeLayer } from './layer-writer.js';
import { entryFromStat, isOverlayWhiteout } from './tree-entry.js';
import { type Xattrs, isPortableXattr, readTreeXattrs } from './xattrs.js';

const OPAQUE_NAMES = ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque'];
const UNSUPPORTED = /^(trusted|user)\.overlay\.(redirect|metacopy)$/;

/**
 * The change set an overlay upper dir holds, as layer entries: 0/0 character
 * devices become `.wh.` whiteouts, opaque directories (trusted.overlay.opaque
 * as root, user.overlay.opaque with the `userxattr` mount option) get an
 * opaque marker. Mount with redirect_dir=off and metacopy=off: renamed
 * directories and metadata-only copies cannot be expressed as a layer.
 * fuse-overlayfs uppers work too: its user.fuseoverlayfs.opaque xattr is read,
 * and the .wh. files it writes where it cannot mknod pass through unchanged.
 */
export async function overlayChanges(upperDir: string): Promise<LayerEntry[]> {
  // getfattr walks the tree in its own process while this one walks it too.
  const pendingXattrs = readTreeXattrs(upperDir);
  pendingXattrs.catch(() => undefined);
  const out: LayerEntry[] = [];
  const found: { e: LayerEntry; abs: string; dir: boolean }[] = [];
  const walk = (rel: string): void => {
    const dir = rel === '' ? upperDir : `${upperDir}/${rel}`;
    for (const name of readdirSync(dir)) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = `${upperDir}/${r}`;
      const st = lstatSync(abs);
      if (isOverlayWhiteout(st)) {
        out.push({ path: r, type: 'whiteout', mode: 0o644, uid: 0, gid: 0, mtime: st.mtimeMs / 1000, size: 0 });
        continue;
      }
      const e = entryFromStat(r, abs, st);
      if (e === undefined) continue;
      out.push(e);
      found.push({ e, abs, dir: st.isDirectory() });
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  const xattrs = await pendingXattrs;
  for (const { e, abs, dir } of found) {
    const xa = xattrs.get(abs);
    {
      if (xa !== undefined) {
        for (const k of xa.keys()) {
          if (UNSUPPORTED.test(k)) {
            throw new SnapshotError(`${abs} carries ${k}: the overlay was mounted with redirect_dir or metacopy`, 'mount overlay with redirect_dir=off,metacopy=off,index=off for builds');
          }
        }
        const portable = portableOf(xa);
        if (portable.size > 0) e.xattrs = portable;
      }
      if (dir && xa !== undefined && OPAQUE_NAMES.some((n) => xa.get(n)?.toString() === 'y')) {
        out.push({ path: e.path, type: 'opaque', mode: 0o644, uid: 0, gid: 0, mtime: e.mtime, size: 0 });
      }
    }
  }
  return out;
}

export function portableOf(xa: Xattrs): Xattrs {
  return new Map([...xa].filter(([k]) => isPortableXattr(k)));
}

/** A layer from an overlay upper dir, or undefined when the step changed nothing. */
export async function diffOverlay(upperDir: string, opts: WriteLayerOptions = {}): Promise<LayerResult | undefined> {
  return writeLayer(await overlayChanges(upperDir), opts);
}
