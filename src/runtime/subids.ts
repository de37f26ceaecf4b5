import { readFileSync } from 'node:fs';

/** One line of /etc/subuid or /etc/subgid owned by the user. */
export interface SubIdRange {
  start: number;
  count: number;
}

/** One line of a uid_map/gid_map: `containerID hostID size`. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** Ranges in a subuid/subgid file that belong to `user` (by name or numeric id). */
export function parseSubIds(text: string, user: string, id: number): SubIdRange[] {
  const out: SubIdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [owner, start, count] = line.split(':');
    if (owner !== user && owner !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isInteger(s) && Number.isInteger(c) && s >= 0 && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

export function readSubIds(file: string, user: string, id: number): SubIdRange[] {
  try {
    return parseSubIds(readFileSync(file, 'utf8'), user, id);
  } catch {
    return [];
  }
}

/**
 * The map buildah and podman use: container 0 -> the caller, container 1.. ->
 * the subordinate ranges one after another.
 */
export function fullIdMap(callerId: number, ranges: readonly SubIdRange[]): IdMapping[] {
  const map: IdMapping[] = [{ containerID: 0, hostID: callerId, size: 1 }];
  let next = 1;
  for (const r of ranges) {
    map.push({ containerID: next, hostID: r.start, size: r.count });
    next += r.count;
  }
  return map;
}

/** Flattens a map into newuidmap/newgidmap arguments. */
export function idMapArgs(map: readonly IdMapping[]): string[] {
  return map.flatMap((m) => [String(m.containerID), String(m.hostID), String(m.size)]);
}

/** Parses /proc/PID/uid_map text. */
export function parseIdMap(text: string): IdMapping[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every((n) => Number.isInteger(n)))
    .map(([c, h, s]) => ({ containerID: c as number, hostID: h as number, size: s as number }));
}

/** Number of IDs a map covers. */
export function idMapSize(map: readonly IdMapping[]): number {
  return map.reduce((n, m) => n + m.size, 0);
}
