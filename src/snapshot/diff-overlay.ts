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
  /** Sort key among its siblings (rank digit + tar name). */
  key: string;
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
    const items: Walked[] = [];
    for (const name of readdirSync(dir)) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const abs = `${this.root}/${r}`;
      const st = lstatSync(abs);
      if (isOverlayWhiteout(st)) {
        const e: LayerEntry = { path: r, type: 'whiteout', mode: 0o644, uid: 0, gid: 0, mtime: st.mtimeMs / 1000, size: 0 };
        items.push({ e, abs, dir: false, key: rankedName(name, true) });
        continue;
      }
      const e = entryFromStat(r, abs, st);
      if (e === undefined) continue;
      items.push({ e, abs, dir: e.type === 'dir', key: rankedName(name, false) });
    }
    return items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
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

/** Entries went out before getfattr answered, and one of them has xattrs that change its tar entry. */
class SpeculationFailed extends Error {}

/**
 * What the xattrs of a walked entry add to the layer: its portable xattrs and,
 * for an opaque directory, the opaque marker. Throws on overlay features a
 * layer cannot express.
 */
function xattrEffect(w: Walked, xa: Xattrs | undefined): { portable: Xattrs | undefined; opaque: boolean } | undefined {
  if (xa === undefined || w.e.type === 'whiteout') return undefined;
  for (const k of xa.keys()) {
    if (UNSUPPORTED.test(k)) {
      throw new SnapshotError(`${w.abs} carries ${k}: the overlay was mounted with redirect_dir or metacopy`, 'mount overlay with redirect_dir=off,metacopy=off,index=off for builds');
    }
  }
  const portable = portableOf(xa);
  const opaque = w.dir && OPAQUE_NAMES.some((n) => xa.get(n)?.toString() === 'y');
  return portable.size > 0 || opaque ? { portable: portable.size > 0 ? portable : undefined, opaque } : undefined;
}

const turn = (): Promise<void> => new Promise<void>((r) => setImmediate(r));

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
 * xattrs come from one `getfattr -R` run in its own process (`xattrsOf`).
 * Until it answers, the walk goes ahead; with `speculate` the entries also go
 * out as if they had no xattrs, and once the answer is in they are checked:
 * if any of them has xattrs that change its entry, SpeculationFailed is thrown
 * (the caller starts over with the answer known). Most upper dirs carry no
 * portable xattrs, so compression need not wait for getfattr.
 */
async function* overlayBatches(upperDir: string, xattrsOf: Promise<Map<string, Xattrs>>, speculate: boolean): AsyncGenerator<LayerEntry[]> {
  let settled = false;
  xattrsOf.then(() => (settled = true), () => (settled = true));
  const walk = new SortedWalk(upperDir);
  let unchecked: Walked[] = [];
  let batch: LayerEntry[] = [];
  let xattrs: Map<string, Xattrs> | undefined;
  const take = (w: Walked): void => {
    batch.push(w.e);
    const fx = xattrEffect(w, (xattrs as Map<string, Xattrs>).get(w.abs));
    if (fx === undefined) return;
    if (fx.portable !== undefined) w.e.xattrs = fx.portable;
    if (fx.opaque) batch.push({ path: w.e.path, type: 'opaque', mode: 0o644, uid: 0, gid: 0, mtime: w.e.mtime, size: 0 });
  };
  /** Once getfattr has answered: checks what went out early, or takes what was walked ahead. */
  async function* settle(): AsyncGenerator<LayerEntry[]> {
    xattrs = await xattrsOf;
    const early = unchecked;
    unchecked = [];
    for (const w of early) {
      if (speculate) {
        if (xattrEffect(w, xattrs.get(w.abs)) !== undefined) throw new SpeculationFailed();
        continue;
      }
      take(w);
      if (batch.length >= BATCH) {
        yield batch;
        batch = [];
      }
    }
  }
  let walked = 0;
  for (let w = walk.next(); w !== undefined; w = walk.next()) {
    if (xattrs === undefined && !settled) {
      unchecked.push(w);
      if (speculate) batch.push(w.e);
      if (++walked % BATCH === 0) {
        if (batch.length > 0) {
          yield batch;
          batch = [];
        }
        await turn(); // lets getfattr's output in
      }
      continue;
    }
    if (xattrs === undefined) yield* settle();
    take(w);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (xattrs === undefined) yield* settle();
  if (batch.length > 0) yield batch;
}

/** The change set of an overlay upper dir (see overlayBatches), in layer order. */
export async function overlayChanges(upperDir: string): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  for await (const batch of overlayBatches(upperDir, readTreeXattrs(upperDir), false)) out.push(...batch);
  return out;
}

export function portableOf(xa: Xattrs): Xattrs {
  return new Map([...xa].filter(([k]) => isPortableXattr(k)));
}

/** A layer from an overlay upper dir, or undefined when the step changed nothing. */
export async function diffOverlay(upperDir: string, opts: WriteLayerOptions = {}): Promise<LayerResult | undefined> {
  const xattrs = readTreeXattrs(upperDir);
  xattrs.catch(() => undefined);
  try {
    return await writeLayerInOrder(overlayBatches(upperDir, xattrs, true), opts);
  } catch (err) {
    if (!(err instanceof SpeculationFailed)) throw err;
    return writeLayerInOrder(overlayBatches(upperDir, xattrs, false), opts); // xattrs known now: no guessing
  }
}
