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
