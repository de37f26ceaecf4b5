/**
 * What a COPY/ADD puts into its layer: an explicit, sorted list of entries (no
 * filesystem scan). Paths are relative to the image root, without a leading
 * slash. File content comes from `source` (a host path) or `data`.
 */
export interface LayerEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink';
  /** Permission bits including setuid/setgid/sticky (no file-type bits). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  size: number;
  source?: string;
  data?: Buffer;
  /** symlink target, or hardlink target path (relative to the image root). */
  linkname?: string;
}

/** Metadata of a path already in the image below the step (from its lower layers or rootfs). */
export interface ExistingPath {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
}

/** Read-only view of the image filesystem a step starts from. */
export interface FsView {
  stat(path: string): Promise<ExistingPath | undefined>;
  readFile(path: string): Promise<Buffer | undefined>;
}

export const EMPTY_FS: FsView = {
  stat: async () => undefined,
  readFile: async () => undefined,
};

/** Clean absolute path: resolves `.`/`..`, never above `/`. */
export function cleanAbs(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return '/' + parts.join('/');
}

/** `/a/b` -> `a/b`; `/` -> ``. */
export function rel(abs: string): string {
  return cleanAbs(abs).slice(1);
}

export function sortEntries(entries: LayerEntry[]): LayerEntry[] {
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
