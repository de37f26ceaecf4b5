import { createHash } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { MACHINE_FACT_MAX_AGE_MS, machineCacheFile, recallMachineFact, rememberMachineFact, statusFields, type KeySources } from '../machine-cache.js';
import type { NamespaceProbe } from './facts.js';

/**
 * Remembers successful namespace probes (`unshare --user true`, `unshare --mount --pid
 * --fork true`), so a build does not spawn them every time. Sound because:
 *  - only successes are kept: an environment that blocked namespaces is probed again on
 *    every run, so a fix (sysctl, seccomp profile) shows at once and the fallback modes
 *    (2 in place, 3 no RUN) are never chosen from memory;
 *  - an entry is used only while every input the probes depend on is unchanged: the boot,
 *    the credentials (uid/gid maps, capability sets, no_new_privs), the seccomp mode and
 *    filter count, the LSM label, the namespace sysctls, the PID and cgroup namespaces
 *    (which container this is), and the unshare binary itself; they are all part of the key;
 *  - entries expire after MAX_AGE_MS, and a failed user-namespace re-exec forgets them all;
 *  - the file (machine-cache.ts) is trusted only when this uid owns it and nobody else may write it.
 * Everything else detection reads (subuid ranges, container markers, mounts) is read fresh
 * on every run: those reads cost microseconds.
 */

export interface NamespaceProbeOutcome {
  userNamespace: NamespaceProbe | undefined;
  mountNamespace: NamespaceProbe | undefined;
}

/** What the key is made of (the machine cache's key sources); tests pass their own. */
export type ProbeKeySources = KeySources;
export { hostKeySources } from '../machine-cache.js';

/** Files whose whole contents go into the key. */
export const PROBE_KEY_FILES = [
  '/proc/sys/kernel/random/boot_id',
  '/proc/self/uid_map',
  '/proc/self/gid_map',
  '/proc/self/setgroups',
  '/proc/self/attr/current',
  '/proc/sys/user/max_user_namespaces',
  '/proc/sys/user/max_mnt_namespaces',
  '/proc/sys/user/max_pid_namespaces',
  '/proc/sys/kernel/unprivileged_userns_clone',
  '/proc/sys/kernel/apparmor_restrict_unprivileged_userns',
] as const;

/** Lines of /proc/self/status that go into the key. */
export const PROBE_KEY_STATUS_FIELDS = ['Uid', 'Gid', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp', 'Seccomp_filters'] as const;

/** Namespaces that tell containers apart (the user and mount namespaces are new in every re-exec'd child: the maps above stand for them). */
export const PROBE_KEY_NAMESPACES = ['/proc/self/ns/pid', '/proc/self/ns/cgroup'] as const;

/** How long an outcome is trusted (the machine cache's day). */
export const MAX_AGE_MS = MACHINE_FACT_MAX_AGE_MS;

/** The key for the probes in this environment, run with the unshare binary at `unshare`. */
export function namespaceProbeKey(src: ProbeKeySources, unshare: string): string {
  const status = statusFields(src.readFile('/proc/self/status') ?? '', PROBE_KEY_STATUS_FIELDS);
  const parts = {
    v: 1,
    files: PROBE_KEY_FILES.map((f) => [f, src.readFile(f) ?? null]),
    status: PROBE_KEY_STATUS_FIELDS.map((k, i) => [k, status[i] ?? null]),
    namespaces: PROBE_KEY_NAMESPACES.map((n) => [n, src.readLink(n) ?? null]),
    unshare: [unshare, src.fileIdentity(unshare) ?? null],
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** Only outcomes where every probe that ran succeeded are remembered. */
export function worthRemembering(uid: number, o: NamespaceProbeOutcome): boolean {
  return o.userNamespace?.ok === true && (uid !== 0 || o.mountNamespace?.ok === true);
}

/** `$XDG_CACHE_HOME/slipway/namespace-probes.json` (default ~/.cache); undefined without either variable. */
export function probeCacheFile(env: Record<string, string | undefined>): string | undefined {
  return machineCacheFile(env, 'namespace-probes');
}

const isProbe = (p: unknown): p is NamespaceProbe | undefined => p === undefined || (typeof p === 'object' && p !== null && typeof (p as NamespaceProbe).ok === 'boolean');

/** A remembered outcome for `key`, if fresh and well-formed. */
export function recallNamespaceProbes(file: string, key: string, now = Date.now()): NamespaceProbeOutcome | undefined {
  const o = recallMachineFact<Partial<NamespaceProbeOutcome>>(file, key, now);
  if (typeof o !== 'object' || o === null || !isProbe(o.userNamespace) || !isProbe(o.mountNamespace)) return undefined;
  return { userNamespace: o.userNamespace, mountNamespace: o.mountNamespace };
}

/** Remembers `o` under `key` (stale entries are dropped); best effort, never throws. */
export function rememberNamespaceProbes(file: string, key: string, o: NamespaceProbeOutcome, now = Date.now()): void {
  rememberMachineFact(file, key, { userNamespace: o.userNamespace, mountNamespace: o.mountNamespace }, now);
}

/** Drops every remembered outcome (a namespace operation failed after all). */
export function forgetNamespaceProbes(env: Record<string, string | undefined>): void {
  const file = probeCacheFile(env);
  if (file === undefined) return;
  try {
    unlinkSync(file);
  } catch {
    /* nothing remembered */
  }
}
