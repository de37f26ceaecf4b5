/**
 * Facts about the environment a build runs in, as plain data. Gathering them
 * (environment-probe.ts) touches the machine; judging them (assess.ts) is pure,
 * so every situation (locked-down CI container, AppArmor host, laptop) can be
 * tested from a literal.
 */

/** Result of actually trying to make a namespace (`unshare --user true`). */
export interface NamespaceProbe {
  ok: boolean;
  /** unshare's message when it failed, e.g. "unshare failed: Operation not permitted". */
  error?: string;
}

export interface EnvironmentFacts {
  uid: number;
  /** Login name (or the uid as text when there is no passwd entry). */
  user: string;
  /** `unshare --user true` (undefined: unshare is not installed). */
  userNamespace: NamespaceProbe | undefined;
  /** `unshare --mount --pid --fork true`: what the runtime core needs as real root. */
  mountNamespace: NamespaceProbe | undefined;
  /** /proc/sys/user/max_user_namespaces. */
  maxUserNamespaces: number | undefined;
  /** /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu 23.10+). */
  apparmorRestrictUserns: number | undefined;
  /** /proc/sys/kernel/unprivileged_userns_clone (Debian/Ubuntu patch; absent elsewhere). */
  unprivilegedUsernsClone: number | undefined;
  /** `Seccomp:` of /proc/self/status: 0 none, 1 strict, 2 filter. */
  seccomp: number | undefined;
  /** CAP_SYS_ADMIN in the effective set (CapEff of /proc/self/status). */
  capSysAdmin: boolean;
  /** Already inside a non-initial user namespace (uid_map is not the identity). */
  inUserNamespace: boolean;
  /** Subordinate ID ranges of the user in /etc/subuid and /etc/subgid. */
  subuidCount: number;
  subgidCount: number;
  /** newuidmap and newgidmap installed. */
  newidmap: boolean;
  /** Signs that this process runs in a container, each in words ("/.dockerenv exists"). */
  containerMarkers: string[];
  /** Filesystem type of `/` from /proc/self/mountinfo (overlay in most containers). */
  rootFsType: string | undefined;
}

/** `Seccomp:` and `CapEff:` from /proc/self/status text. */
export function parseProcStatus(text: string): { seccomp: number | undefined; capEff: bigint | undefined } {
  const seccomp = /^Seccomp:\s*(\d+)\s*$/m.exec(text);
  const cap = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text);
  return {
    seccomp: seccomp ? Number(seccomp[1]) : undefined,
    capEff: cap ? BigInt(`0x${cap[1]}`) : undefined,
  };
}

export const CAP_SYS_ADMIN = 21n;

export function hasCapability(capEff: bigint | undefined, cap: bigint): boolean {
  return capEff !== undefined && ((capEff >> cap) & 1n) === 1n;
}

/** An integer sysctl value from its /proc/sys text. */
export function parseSysctlInt(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return Number.isInteger(n) ? n : undefined;
}

/** cgroup paths that container engines use (/proc/1/cgroup and /proc/self/cgroup). */
const CGROUP_MARKERS = [/docker/, /kubepods/, /containerd/, /libpod/, /\/lxc\//, /crio-/, /garden/, /actions_job/];

/** Container markers from /proc/1/cgroup text. */
export function cgroupContainerMarker(text: string | undefined): string | undefined {
  if (!text) return undefined;
  for (const line of text.split('\n')) {
    const path = line.split(':').slice(2).join(':');
    if (CGROUP_MARKERS.some((re) => re.test(path))) return `/proc/1/cgroup names a container (${path.trim()})`;
  }
  return undefined;
}
