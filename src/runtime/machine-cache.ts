import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { makeDirs } from '../oci/make-dirs.js';

/**
 * Host facts a build probes by running something (which OCI runtime works, whether overlay
 * mounts), remembered per machine environment so that a build with a new store (`--root`)
 * does not probe again: `$XDG_CACHE_HOME/slipway/<name>.json` (default ~/.cache), one entry
 * per environment key, each for a day. Callers remember successes only, and validate what
 * they recall. The file is trusted only when this uid owns it and nobody else may write it.
 */
export const MACHINE_FACT_MAX_AGE_MS = 24 * 3600 * 1000;

/** `$XDG_CACHE_HOME/slipway/<name>.json`, else ~/.cache/…; undefined without either (absolute) variable. */
export function machineCacheFile(env: Record<string, string | undefined>, name: string): string | undefined {
  const base = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : env.HOME?.startsWith('/') ? join(env.HOME, '.cache') : undefined;
  return base === undefined ? undefined : join(base, 'slipway', `${name}.json`);
}

function readOr(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** Identity of a file's contents (path, device, inode, size, times), or null when missing. */
function binary(p: string | undefined): string | null {
  if (p === undefined) return null;
  try {
    const st = statSync(p, { bigint: true });
    return `${p}:${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return null;
  }
}

/**
 * What such a probe's outcome depends on: the boot, kernel and loaded filesystems, the
 * credentials and id maps, seccomp and no_new_privs, the cgroup layout and namespace,
 * and the programs the probe runs (`binaries`, by identity).
 */
export function environmentKey(binaries: readonly (string | undefined)[]): string {
  const status = readOr('/proc/self/status') ?? '';
  let cgroupNs: string | null = null;
  try {
    cgroupNs = readlinkSync('/proc/self/ns/cgroup');
  } catch {
    /* none */
  }
  const parts = {
    v: 1,
    boot: readOr('/proc/sys/kernel/random/boot_id'),
    kernel: release(),
    filesystems: readOr('/proc/filesystems'),
    uidMap: readOr('/proc/self/uid_map'),
    gidMap: readOr('/proc/self/gid_map'),
    status: ['Uid', 'Gid', 'CapEff', 'CapBnd', 'NoNewPrivs', 'Seccomp'].map((k) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? null),
    cgroup: readOr('/proc/self/cgroup'),
    cgroupMounts: (readOr('/proc/self/mountinfo') ?? '').split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' - ')[1]).sort(),
    cgroupNs,
    binaries: binaries.map(binary),
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

interface Entry {
  at: number;
  value: unknown;
}

/** Entries of the file, or none when it is missing, unreadable or not safely ours. */
function entries(file: string): Record<string, Entry> {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o022) !== 0) return {};
    const data = JSON.parse(readFileSync(fd, 'utf8')) as { v?: number; entries?: Record<string, Entry> };
    return data.v === 2 && data.entries && typeof data.entries === 'object' ? data.entries : {};
  } catch {
    return {};
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const fresh = (e: Entry | undefined, now: number): e is Entry => e !== undefined && typeof e.at === 'number' && now >= e.at && now - e.at <= MACHINE_FACT_MAX_AGE_MS;

/** The value remembered for `key`, if fresh (unvalidated: the caller checks its shape). */
export function recallMachineFact<T>(file: string, key: string, now = Date.now()): T | undefined {
  const e = entries(file)[key];
  return fresh(e, now) ? (e.value as T) : undefined;
}

/** Remembers `value` under `key`, dropping stale entries; best effort, never throws. */
export function rememberMachineFact(file: string, key: string, value: unknown, now = Date.now()): void {
  try {
    // never into someone else's cache dir (root run by sudo with the caller's HOME): it would become root's
    if (!nearestExistingOwnedByUs(join(file, '..'))) return;
    const kept = Object.fromEntries(Object.entries(entries(file)).filter(([, e]) => fresh(e, now)));
    kept[key] = { at: now, value };
    makeDirs(dirname(file), 0o700); // not mkdirSync recursive: it never ends under /proc
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ v: 2, entries: kept }), { mode: 0o600 });
    renameSync(tmp, file);
  } catch {
    /* the next new store probes again */
  }
}

/** Whether the nearest existing dir at or above `dir` belongs to this uid. */
function nearestExistingOwnedByUs(dir: string): boolean {
  for (let d = dir; ; d = join(d, '..')) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (st !== undefined) return st.uid === (process.getuid?.() ?? 0);
    if (d === '/') return false;
  }
}
