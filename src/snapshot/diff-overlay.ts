import { lstatSync, readdirSync } from 'node:fs';
import type { LayerEntry } from './changes.js';
import { SnapshotError } from './errors.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './apply.js';
import { type LayerResult, type WriteLayerOptions, writeLayerInOrder } from './layer-writer.js';
import { entryFromStat, isOverlayWhiteout } from './tree-entry.js';
import { type Xattrs, isPortableXattr, readTreeXattrs } from './xattrs.js';

const OPAQUE_NAMES = ['trusted.overlay.opaque', 'user.overlay.opaque', 'user.fuseoverlayfs.opaque'];
const UNSUPPORTED = /^(trusted|user)\.overlay\.(redirect|metacopy)$/;

interface Walked {
  e: LayerEntry;
  abs: string;
  dir: boolean;
}

function rankedName(name: string, whiteout: boolean): string {
  const tar = whiteout ? `${WHITEOUT_PREFIX}${name}` : name;
  return `${tar === OPAQUE_WHITEOUT ? 0 : tar.startsWith(WHITEOUT_PREFIX) ? 1 : 2}${tar}`;
}

/**
 * Walks an upper dir depth first in layer order: each directory's children
 * sorted by their tar names (opaque marker, then whiteouts, then the rest),
 * a directory's subtree right after it. That is the order of sortKey(), so the
 * entries can be written as they are found.
 */
class SortedWalk {
  private readonly stack: { items: Walked[]; i: number }[] = [];

  constructor(private readonly root: string) {
    this.stack.push({ items: this.children(''), i: 0 });
  }

  private children(rel: string): Walked[] {
    const dir = rel === '' ? this.root : `${this.root}/${rel}`;
    const keyed: { key: string; w: Walked }[] = [];
    for (const name of readdirSync(dir)) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = `${this.root}/${r}`;
      const st = lstatSync(abs);
      if (isOverlayWhiteout(st)) {
        const e: LayerEntry = { path: r, type: 'whiteout', mode: 0o644, uid: 0, gid: 0, mtime: st.mtimeMs / 1000, size: 0 };
        keyed.push({ key: rankedName(name, true), w: { e, abs, dir: false } });
        continue;
      }
      const e = entryFromStat(r, abs, st);
      if (e === undefined) continue;
      keyed.push({ key: rankedName(name, false), w: { e, abs, dir: e.type === 'dir' } });
    }
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return keyed.map((k) => k.w);
  }

  /** The next entry, or undefined at the end. A directory's children follow it. */
  next(): Walked | undefined {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (top === undefined) return undefined;
      const w = top.items[top.i++];
      if (w === undefined) {
        this.stack.pop();
        continue;
      }
      if (w.dir) this.stack.push({ items: this.children(w.e.path), i: 0 });
      return w;
    }
  }
}

const BATCH = 512;

/**
 * The change set an overlay upper dir holds, as layer entries in layer order,
 * batch by batch: 0/0 character devices become `.wh.` whiteouts, opaque
 * directories (trusted.overlay.opaque as root, user.overlay.opaque with the
 * `userxattr` mount option) get an opaque marker. Mount with redirect_dir=off
 * and metacopy=off: renamed directories and metadata-only copies cannot be
 * expressed as a layer. fuse-overlayfs uppers work too: its
 * user.fuseoverlayfs.opaque xattr is read, and the .wh. files it writes where
 * it cannot mknod pass through unchanged.
 *
 * xattrs come from one `getfattr -R` run in its own process; until it is done
 * the walk goes ahead on its own, then entries flow out as they are walked.
 */
export async function* overlayBatches(upperDir: string): AsyncGenerator<LayerEntry[]> {
  const pending = readTreeXattrs(upperDir);
  let ready = false;
  pending.then(() => (ready = true), () => (ready = true));
  const walk = new SortedWalk(upperDir);
  const ahead: Walked[] = [];
  let done = false;
  while (!ready && !done) {
    for (let k = 0; k < BATCH; k++) {
      const w = walk.next();
      if (w === undefined) {
        done = true;
        break;
      }
      ahead.push(w);
    }
    await new Promise<void>((r) => setImmediate(r)); // lets getfattr's output in
  }
  const xattrs = await pending;
  let batch: LayerEntry[] = [];
  const take = (w: Walked): void => {
    const xa = w.e.type === 'whiteout' ? undefined : xattrs.get(w.abs);
    if (xa === undefined) {
      batch.push(w.e);
      return;
    }
    for (const k of xa.keys()) {
      if (UNSUPPORTED.test(k)) {
        throw new SnapshotError(`${w.abs} carries ${k}: the overlay was mounted with redirect_dir or metacopy`, 'mount overlay with redirect_dir=off,metacopy=off,index=off for builds');
      }
    }
    const portable = portableOf(xa);
    if (portable.size > 0) w.e.xattrs = portable;
    batch.push(w.e);
    if (w.dir && OPAQUE_NAMES.some((n) => xa.get(n)?.toString() === 'y')) {
      batch.push({ path: w.e.path, type: 'opaque', mode: 0o644, uid: 0, gid: 0, mtime: w.e.mtime, size: 0 });
    }
  };
  for (const w of ahead) {
    take(w);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  ahead.length = 0;
  for (let w = walk.next(); w !== undefined; w = walk.next()) {
    take(w);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** The change set of an overlay upper dir (see overlayBatches), in layer order. */
export async function overlayChanges(upperDir: string): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  for await (const batch of overlayBatches(upperDir)) out.push(...batch);
  return out;
}

export function portableOf(xa: Xattrs): Xattrs {
  return new Map([...xa].filter(([k]) => isPortableXattr(k)));
}

/** A layer from an overlay upper dir, or undefined when the step changed nothing. */
export async function diffOverlay(upperDir: string, opts: WriteLayerOptions = {}): Promise<LayerResult | undefined> {
  return writeLayerInOrder(overlayBatches(upperDir), opts);
}
