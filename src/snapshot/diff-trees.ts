import { closeSync, constants, lstatSync, openSync, readSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import type { LayerEntry } from './changes.js';
import { portableOf } from './diff-overlay.js';
import { type LayerResult, type WriteLayerOptions, writeLayer } from './layer-writer.js';
import { entryFromStat } from './tree-entry.js';
import { readXattrsOf } from './xattrs.js';

export interface DiffTreesOptions extends WriteLayerOptions {
  /**
   * When the step started (ms since the epoch). Files in `after` whose ctime is
   * older were not touched by the step, so equal metadata is trusted; newer
   * ones with equal metadata get their content hashed. Without it, files whose
   * mtime has no sub-second part (coarse clocks, tar-extracted files) are hashed.
   */
  since?: number;
  /** Read xattrs of changed entries (needs getfattr). Default true. */
  xattrs?: boolean;
}

/** Kernel timestamps are taken from a coarse clock (a tick or so behind Date.now()). */
const CTIME_SLACK_MS = 1000;

const CHUNK = 1 << 18;
let compareBufs: [Buffer, Buffer] | undefined;

/**
 * Whether two files (of equal size) have the same bytes: read side by side
 * synchronously (page cache reads cost less than a thread-pool round trip each),
 * stopping at the first difference; symlinks are never followed.
 */
function sameContent(a: string, b: string): boolean {
  const [ba, bb] = (compareBufs ??= [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)]);
  const fa = openSync(a, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const fb = openSync(b, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      for (;;) {
        const na = readFull(fa, ba);
        const nb = readFull(fb, bb);
        if (na !== nb || !ba.subarray(0, na).equals(bb.subarray(0, nb))) return false;
        if (na < CHUNK) return true;
      }
    } finally {
      closeSync(fb);
    }
  } finally {
    closeSync(fa);
  }
}

/** Fills `buf` from the file's current position unless the file ends first; returns the bytes read. */
function readFull(fd: number, buf: Buffer): number {
  let n = 0;
  while (n < buf.length) {
    const k = readSync(fd, buf, n, buf.length - n, null);
    if (k === 0) break;
    n += k;
  }
  return n;
}

/** One letter per file type (d f l c b p s), for comparing what a path is in two trees. */
export function fileKind(st: Pick<Stats, 'isDirectory' | 'isFile' | 'isSymbolicLink' | 'isCharacterDevice' | 'isBlockDevice' | 'isFIFO'>): string {
  if (st.isDirectory()) return 'd';
  if (st.isFile()) return 'f';
  if (st.isSymbolicLink()) return 'l';
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return 's';
}

function sameMeta(a: Stats, b: Stats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeMs === b.mtimeMs && a.size === b.size && a.rdev === b.rdev;
}

/**
 * Changes from tree `before` to tree `after` (both real directories), the way
 * a snapshotter without overlay sees a step: added and modified entries (with
 * their parent directories) and whiteouts for removed ones. A subtree is only
 * skipped when both sides are the same directory inode; directory mtimes say
 * nothing about changes deeper down, so they are not used to skip.
 */
export async function treeChanges(before: string, after: string, opts: DiffTreesOptions = {}): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  const candidates: { rel: string; a: string; b: string; e: LayerEntry; st: Stats }[] = [];
  const parentsNeeded = new Set<string>();

  const addSubtree = (rel: string, abs: string, st: Stats): void => {
    const e = entryFromStat(rel, abs, st);
    if (e === undefined) return;
    out.push(e);
    if (st.isDirectory()) {
      for (const n of readdirSync(abs).sort()) addSubtree(`${rel}/${n}`, `${abs}/${n}`, lstatSync(`${abs}/${n}`));
    }
  };

  const compare = (rel: string): boolean => {
    const ad = rel === '' ? after : `${after}/${rel}`;
    const bd = rel === '' ? before : `${before}/${rel}`;
    const aNames = readdirSync(ad).sort();
    const bNames = new Set(readdirSync(bd));
    let changed = false;
    for (const name of aNames) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const aAbs = `${ad}/${name}`;
      const bAbs = `${bd}/${name}`;
      const ast = lstatSync(aAbs);
      const bst = bNames.has(name) ? lstatSync(bAbs) : undefined;
      bNames.delete(name);
      if (bst === undefined || fileKind(ast) !== fileKind(bst)) {
        addSubtree(r, aAbs, ast);
        changed = true;
        continue;
      }
      if (ast.isDirectory()) {
        if (ast.dev === bst.dev && ast.ino === bst.ino) continue;
        const inner = compare(r);
        if (inner || !sameMeta(ast, bst)) {
          const e = entryFromStat(r, aAbs, ast);
          if (e) out.push(e);
          changed = true;
        }
        continue;
      }
      const e = entryFromStat(r, aAbs, ast);
      if (e === undefined) continue;
      if (!sameMeta(ast, bst) || (ast.isSymbolicLink() && readlinkSync(aAbs) !== readlinkSync(bAbs))) {
        out.push(e);
        changed = true;
        continue;
      }
      if (ast.isFile()) {
        const suspicious = opts.since !== undefined ? ast.ctimeMs >= opts.since - CTIME_SLACK_MS : ast.mtimeMs % 1000 === 0;
        if (suspicious) candidates.push({ rel: r, a: aAbs, b: bAbs, e, st: ast });
      }
    }
    for (const gone of [...bNames].sort()) {
      const st = lstatSync(ad);
      out.push({ path: rel === '' ? gone : `${rel}/${gone}`, type: 'whiteout', mode: 0o644, uid: 0, gid: 0, mtime: st.mtimeMs / 1000, size: 0 });
      changed = true;
    }
    return changed;
  };
  compare('');

  for (const c of candidates) {
    if (!sameContent(c.a, c.b)) {
      out.push(c.e);
      const parts = c.rel.split('/');
      for (let i = 1; i < parts.length; i++) parentsNeeded.add(parts.slice(0, i).join('/'));
    }
  }
  const have = new Set(out.map((e) => e.path));
  for (const p of parentsNeeded) {
    if (have.has(p)) continue;
    const e = entryFromStat(p, `${after}/${p}`, lstatSync(`${after}/${p}`));
    if (e) out.push(e);
  }

  if (opts.xattrs !== false) {
    const real = out.filter((e) => e.type !== 'whiteout' && e.type !== 'opaque');
    const xa = await readXattrsOf(real.map((e) => `${after}/${e.path}`));
    for (const e of real) {
      const x = xa.get(`${after}/${e.path}`);
      if (x !== undefined) {
        const p = portableOf(x);
        if (p.size > 0) e.xattrs = p;
      }
    }
  }
  return out;
}

/** A layer from the difference of two trees, or undefined when nothing changed. */
export async function diffTrees(before: string, after: string, opts: DiffTreesOptions = {}): Promise<LayerResult | undefined> {
  return writeLayer(await treeChanges(before, after, opts), opts);
}
