/** One line of /proc/self/mountinfo (proc(5)). */
export interface MountInfoEntry {
  id: number;
  parent: number;
  /** Where it is mounted, octal escapes (\040 for space) decoded. */
  mountPoint: string;
  /** The part of the source filesystem mounted there ("/" for a whole filesystem). */
  root: string;
  fsType: string;
  source: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Parses /proc/self/mountinfo text; malformed lines are skipped. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 5 || right.length < 2) continue;
    out.push({
      id: Number(left[0]),
      parent: Number(left[1]),
      root: unescapeMount(left[3] as string),
      mountPoint: unescapeMount(left[4] as string),
      fsType: right[0] as string,
      source: unescapeMount(right[1] as string),
    });
  }
  return out;
}

/** The filesystem type mounted at `/` (the last mount there wins, as the kernel shows it). */
export function rootFsTypeOf(mounts: readonly MountInfoEntry[]): string | undefined {
  let t: string | undefined;
  for (const m of mounts) if (m.mountPoint === '/') t = m.fsType;
  return t;
}
