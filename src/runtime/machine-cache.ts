import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { makeDirs } from '../oci/make-dirs.js';
import { readTrusted, slipwayCacheDir } from '../oci/private-cache.js';

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
  const base = slipwayCacheDir(env);
  return base === undefined ? undefined : join(base, `${name}.json`);
}

/** Where an environment key's parts are read from; tests pass their own. */
export interface KeySources {
  readFile(path: string): string | undefined;
  /** Target of a symlink (namespace links read like "pid:[4026531836]"). */
  readLink(path: string): string | undefined;
  /** Identity of a file's contents: device, inode, size, mtime, ctime. */
  fileIdentity(path: string): string | undefined;
}

/** The real machine as key source. */
export const hostKeySources: KeySources = {
  readFile(p) {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  },
  readLink(p) {
    try {
      return readlinkSync(p);
    } catch {
      return undefined;
    }
  },
  fileIdentity(p) {
    try {
      const st = statSync(p, { bigint: true });
      return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      return undefined;
    }
  },
};

/** The values of `fields` in /proc/self/status text (null where a line is missing). */
export function statusFields(status: string, fields: readonly string[]): (string | null)[] {
  return fields.map((k) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? null);
}

/**
 * What such a probe's outcome depends on: the boot, kernel and loaded filesystems, the
 * credentials and id maps, seccomp and no_new_privs, the cgroup layout and namespace,
 * and the programs the probe runs (`binaries`, by identity).
 */
export function environmentKey(binaries: readonly (string | undefined)[], src: KeySources = hostKeySources): string {
  const read = (p: string): string | null => src.readFile(p) ?? null;
  const parts = {
    v: 1,
    boot: read('/proc/sys/kernel/random/boot_id'),
    kernel: release(),
    filesystems: read('/proc/filesystems'),
    uidMap: read('/proc/self/uid_map'),
    gidMap: read('/proc/self/gid_map'),
    status: statusFields(read('/proc/self/status') ?? '', ['Uid', 'Gid', 'CapEff', 'CapBnd', 'NoNewPrivs', 'Seccomp']),
    cgroup: read('/proc/self/cgroup'),
    cgroupMounts: (read('/proc/self/mountinfo') ?? '').split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' - ')[1]).sort(),
    cgroupNs: src.readLink('/proc/self/ns/cgroup') ?? null,
    binaries: binaries.map((p) => {
      const id = p === undefined ? undefined : src.fileIdentity(p);
      return id === undefined ? null : `${p}:${id}`;
    }),
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

interface Entry {
  at: number;
  value: unknown;
}

/** Entries of the file, or none when it is missing, unreadable or not safely ours. */
function entries(file: string): Record<string, Entry> {
  const bytes = readTrusted(file);
  if (bytes === undefined) return {};
  try {
    const data = JSON.parse(bytes.toString('utf8')) as { v?: number; entries?: Record<string, Entry> };
    return data.v === 2 && data.entries && typeof data.entries === 'object' ? data.entries : {};
  } catch {
    return {};
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
