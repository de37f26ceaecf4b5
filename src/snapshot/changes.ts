import type { Readable } from 'node:stream';
import type { EntryType } from './tar-format.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './apply.js';

/** Where a regular file's bytes come from. */
export type ContentSource =
  | { path: string }
  | { data: Buffer }
  | { open(): Readable | Promise<Readable> };

/**
 * One change in a layer, as the differs and COPY produce it. `path` is relative
 * to the image root (no leading "/" or "./"). `whiteout` removes `path` from the
 * layers below; `opaque` hides everything below in directory `path`.
 */
export interface LayerEntry {
  path: string;
  type: EntryType | 'whiteout' | 'opaque';
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Bytes of a regular file (must match its source). */
  size: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  source?: ContentSource;
  xattrs?: Map<string, Buffer>;
  /** "dev:ino" of the file, for emitting hard links once. */
  inode?: string;
}

/** The name this entry gets in the tar (whiteouts become `.wh.` files). */
export function tarName(e: LayerEntry): string {
  if (e.type === 'opaque') return e.path === '' ? OPAQUE_WHITEOUT : `${e.path}/${OPAQUE_WHITEOUT}`;
  if (e.type === 'whiteout') {
    const i = e.path.lastIndexOf('/');
    return i < 0 ? `${WHITEOUT_PREFIX}${e.path}` : `${e.path.slice(0, i)}/${WHITEOUT_PREFIX}${e.path.slice(i + 1)}`;
  }
  return e.path;
}

function rank(component: string): number {
  if (component === OPAQUE_WHITEOUT) return 0;
  if (component.startsWith(WHITEOUT_PREFIX)) return 1;
  return 2;
}

/**
 * Sort key of a tar name; plain string order of keys is the layer's entry
 * order: component-wise (parents before children, a directory's children
 * before its longer-named siblings, as components are joined by NUL), and
 * within a directory the opaque marker first, then whiteouts (image-spec:
 * whiteouts before sibling entries), then the rest by UTF-16 code units.
 */
export function sortKey(name: string): string {
  return name.split('/').map((c) => `${rank(c)}${c}`).join('\0');
}

function rankAt(s: string, start: number, end: number): number {
  if (!s.startsWith(WHITEOUT_PREFIX, start)) return 2;
  return end - start === OPAQUE_WHITEOUT.length && s.startsWith(OPAQUE_WHITEOUT, start) ? 0 : 1;
}

/**
 * Compares two tar names in layer order, the order of their sortKey()s,
 * without building the keys (a sorted walk checks each name against the one
 * before it). Negative when `a` comes first.
 */
export function compareTarNames(a: string, b: string): number {
  let i = 0;
  let j = 0;
  for (;;) {
    const sa = a.indexOf('/', i);
    const sb = b.indexOf('/', j);
    const ea = sa < 0 ? a.length : sa;
    const eb = sb < 0 ? b.length : sb;
    const r = rankAt(a, i, ea) - rankAt(b, j, eb);
    if (r !== 0) return r;
    const la = ea - i;
    const lb = eb - j;
    const n = la < lb ? la : lb;
    for (let k = 0; k < n; k++) {
      const d = a.charCodeAt(i + k) - b.charCodeAt(j + k);
      if (d !== 0) return d;
    }
    // one component a prefix of the other: the shorter sorts first (NUL or the end follows it in the key)
    if (la !== lb) return la - lb;
    if (sa < 0 || sb < 0) return (sa < 0 ? 0 : 1) - (sb < 0 ? 0 : 1);
    i = sa + 1;
    j = sb + 1;
  }
}

/** Normalizes an excluded path ("/etc/hosts" -> "etc/hosts"). */
export function normalizeRel(p: string): string {
  return p.split('/').filter((c) => c !== '' && c !== '.').join('/');
}

export function isExcluded(path: string, excluded: readonly string[]): boolean {
  for (const x of excluded) {
    if (x === '') continue;
    if (path === x || path.startsWith(`${x}/`)) return true;
  }
  return false;
}
