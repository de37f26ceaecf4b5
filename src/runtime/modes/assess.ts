import { SlipwayError } from '../../oci/index.js';
import type { EnvironmentFacts } from './facts.js';

/**
 * The three ways slipway can build, best first:
 *  1 `rootless`: RUN steps in namespaces (the runtime core; real root uses mount/PID namespaces).
 *  2 `in-place`: root in a disposable container without namespaces (`--isolation=none`, Kaniko's model).
 *  3 `no-run`: no privileges at all; Dockerfiles without RUN still build.
 */
export type BuildModeNumber = 1 | 2 | 3;
export type BuildModeName = 'rootless' | 'in-place' | 'no-run';

export const BUILD_MODE_NAMES: Record<BuildModeNumber, BuildModeName> = { 1: 'rootless', 2: 'in-place', 3: 'no-run' };

/** Why a better mode is unavailable (or, as a note, degraded), and the exact change that fixes it. */
export interface ModeBlocker {
  mode: 1 | 2;
  /** Stable: USERNS_SYSCTL_MAX, USERNS_APPARMOR, USERNS_CLONE_SYSCTL, USERNS_SECCOMP, USERNS_FAILED, NO_UNSHARE, ROOT_NO_SYS_ADMIN, ROOT_MOUNTNS_FAILED, NOT_ROOT, NOT_DISPOSABLE, NO_SUBUID, NO_NEWUIDMAP. */
  code: string;
  reason: string;
  fix: string;
}

export interface BuildModeReport {
  mode: BuildModeNumber;
  name: BuildModeName;
  /** How RUN steps run: in namespaces, in place over `/`, or not at all. */
  isolation: 'namespaces' | 'none' | 'no-run';
  /** True when --isolation or --force-in-place chose the mode. */
  forced: boolean;
  /** Every reason the better modes are unavailable here, most specific first. */
  blockers: ModeBlocker[];
  /** Degradations of the chosen mode that do not block it (e.g. single-ID map). */
  notes: ModeBlocker[];
  /** Evidence that `/` belongs to a throwaway container. */
  container: { disposable: boolean; markers: string[]; rootFsType: string | undefined };
  facts: EnvironmentFacts;
}

export interface ModeRequest {
  /** `--isolation`: oci|chroot force mode 1, none forces mode 2. */
  isolation?: 'oci' | 'chroot' | 'none' | undefined;
  /** `--force-in-place` or SLIPWAY_FORCE_IN_PLACE=1: allow mode 2 where `/` does not look disposable. */
  forceInPlace?: boolean | undefined;
}

/** A mode asked for with --isolation that this environment cannot give. */
export class BuildModeUnavailableError extends SlipwayError {
  constructor(readonly asked: string, readonly blockers: readonly ModeBlocker[]) {
    const first = blockers[0];
    super('BUILD_MODE_UNAVAILABLE', `--isolation=${asked} is not possible here: ${blockers.map((b) => b.reason).join('; ')}`, {
      hint: first ? `${first.fix}${blockers.length > 1 ? ' (run "slipway info" for every fix)' : ''}` : 'run "slipway info"',
      exitCode: 2,
    });
  }
}

/** In-place mode refused: `/` does not look like a throwaway container. */
export class InPlaceRefusedError extends SlipwayError {
  constructor(markers: readonly string[]) {
    super(
      'IN_PLACE_REFUSED',
      `refusing to build in place (--isolation=none): this does not look like a disposable container (${markers.length === 0 ? 'no /.dockerenv, /run/.containerenv, $container, $KUBERNETES_SERVICE_HOST or container cgroup' : markers.join(', ')}), ` +
        'and an in-place build replaces the root filesystem "/" with the image being built: every file outside /proc, /sys, /dev, mounted volumes, the build context and slipway itself is deleted',
      { hint: 'run slipway inside a throwaway CI container; only if "/" really may be destroyed, pass --force-in-place or set SLIPWAY_FORCE_IN_PLACE=1', exitCode: 2 },
    );
  }
}

export const FIX = {
  maxUserNamespaces: 'on the host (Kubernetes: the node): sysctl -w user.max_user_namespaces=15000, and persist it in /etc/sysctl.d/',
  unprivilegedClone: 'on the host: sysctl -w kernel.unprivileged_userns_clone=1, and persist it in /etc/sysctl.d/',
  apparmor:
    'on the host: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or load an AppArmor profile for the node binary that runs slipway with the "userns," rule',
  seccomp:
    'Kubernetes: set securityContext.seccompProfile.type: Unconfined on the pod (or a Localhost profile that allows unshare, clone and clone3 with CLONE_NEWUSER); ' +
    'Docker / GitLab runner: --security-opt seccomp=unconfined (config.toml [runners.docker] security_opt = ["seccomp:unconfined"])',
  unshare: 'install util-linux (apt-get install util-linux) so slipway can call unshare',
  rootSysAdmin:
    'run the job as a non-root user (it gets all capabilities inside its own user namespace), or grant CAP_SYS_ADMIN (Kubernetes securityContext.capabilities.add: ["SYS_ADMIN"]; Docker --cap-add SYS_ADMIN)',
  notRoot: 'run the job as root in a throwaway container (Kubernetes securityContext.runAsUser: 0; Docker --user 0; GitLab: an image whose USER is root)',
  notDisposable: 'run slipway inside a throwaway CI container; only if "/" really may be replaced, pass --force-in-place or set SLIPWAY_FORCE_IN_PLACE=1',
  newidmap: 'apt-get install uidmap (newuidmap/newgidmap)',
} as const;

export function subIdFix(user: string): string {
  return `as root: echo "${user}:100000:65536" >> /etc/subuid && echo "${user}:100000:65536" >> /etc/subgid (a range no other user has)`;
}

/** Why the user-namespace probe failed, each cause with its fix, most specific first. */
function userNamespaceBlockers(f: EnvironmentFacts): ModeBlocker[] {
  const out: ModeBlocker[] = [];
  if (f.userNamespace === undefined) {
    out.push({ mode: 1, code: 'NO_UNSHARE', reason: 'unshare (util-linux) is not installed', fix: FIX.unshare });
    return out;
  }
  if (f.userNamespace.ok) return out;
  const err = f.userNamespace.error ?? '';
  if (f.maxUserNamespaces === 0 || /no space left/i.test(err)) {
    out.push({ mode: 1, code: 'USERNS_SYSCTL_MAX', reason: `user namespaces are disabled (user.max_user_namespaces=${f.maxUserNamespaces ?? 'reached'})`, fix: FIX.maxUserNamespaces });
  }
  if (f.uid !== 0 && f.unprivilegedUsernsClone === 0) {
    out.push({ mode: 1, code: 'USERNS_CLONE_SYSCTL', reason: 'unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0)', fix: FIX.unprivilegedClone });
  }
  if (f.uid !== 0 && f.apparmorRestrictUserns === 1) {
    out.push({ mode: 1, code: 'USERNS_APPARMOR', reason: 'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1)', fix: FIX.apparmor });
  }
  if (f.seccomp === 2 && !/no space left/i.test(err)) {
    out.push({
      mode: 1,
      code: 'USERNS_SECCOMP',
      reason: `a seccomp filter on this process (Seccomp: 2) refuses unshare(CLONE_NEWUSER)${f.capSysAdmin ? '' : ', as Docker\'s and Kubernetes\' RuntimeDefault profiles do without CAP_SYS_ADMIN'}`,
      fix: FIX.seccomp,
    });
  }
  if (out.length === 0) {
    out.push({ mode: 1, code: 'USERNS_FAILED', reason: `unshare --user true failed: ${err || 'unknown error'}`, fix: `${FIX.seccomp}; or, on the host, ${FIX.maxUserNamespaces}` });
  }
  return out;
}

function mode1Blockers(f: EnvironmentFacts): ModeBlocker[] {
  if (f.uid !== 0) return userNamespaceBlockers(f);
  // root: the runtime core makes mount + PID namespaces directly
  if (f.mountNamespace === undefined) return [{ mode: 1, code: 'NO_UNSHARE', reason: 'unshare (util-linux) is not installed', fix: FIX.unshare }];
  if (f.mountNamespace.ok) return [];
  const out: ModeBlocker[] = [];
  if (!f.capSysAdmin) {
    out.push({
      mode: 1,
      code: 'ROOT_NO_SYS_ADMIN',
      reason: `running as root without CAP_SYS_ADMIN, so no mount namespace can be made${f.userNamespace?.ok ? ' (user namespaces do work: a non-root user could build rootless)' : ''}`,
      fix: FIX.rootSysAdmin,
    });
  } else {
    out.push({ mode: 1, code: 'ROOT_MOUNTNS_FAILED', reason: `unshare --mount --pid failed: ${f.mountNamespace.error ?? 'unknown error'}`, fix: FIX.seccomp });
  }
  // a non-root user would need user namespaces: say why those fail too
  for (const b of userNamespaceBlockers(f)) if (!out.some((o) => o.code === b.code)) out.push(b);
  return out;
}

function mode2Blockers(f: EnvironmentFacts, disposable: boolean, force: boolean): ModeBlocker[] {
  const out: ModeBlocker[] = [];
  if (f.uid !== 0) out.push({ mode: 2, code: 'NOT_ROOT', reason: `in-place builds need root inside a container, and this runs as ${f.user} (uid ${f.uid})`, fix: FIX.notRoot });
  if (!disposable && !force) {
    out.push({
      mode: 2,
      code: 'NOT_DISPOSABLE',
      reason: 'this does not look like a disposable container (no /.dockerenv, /run/.containerenv, $container, $KUBERNETES_SERVICE_HOST or container cgroup), and an in-place build replaces "/"',
      fix: FIX.notDisposable,
    });
  }
  return out;
}

function mode1Notes(f: EnvironmentFacts): ModeBlocker[] {
  if (f.uid === 0) return [];
  const out: ModeBlocker[] = [];
  if (f.subuidCount === 0 || f.subgidCount === 0) {
    out.push({ mode: 1, code: 'NO_SUBUID', reason: `no subordinate ID range for ${f.user} in /etc/subuid and /etc/subgid: RUN gets a single-ID map (chown to other users and apt-get fail)`, fix: subIdFix(f.user) });
  }
  if (!f.newidmap) out.push({ mode: 1, code: 'NO_NEWUIDMAP', reason: 'newuidmap/newgidmap are not installed: RUN gets a single-ID map', fix: FIX.newidmap });
  return out;
}

/** Picks the build mode for these facts; throws when --isolation asks for one this environment cannot give. */
export function assessBuildMode(f: EnvironmentFacts, req: ModeRequest = {}): BuildModeReport {
  const disposable = f.containerMarkers.length > 0;
  const force = req.forceInPlace === true;
  const b1 = mode1Blockers(f);
  const b2 = mode2Blockers(f, disposable, force);
  const container = { disposable, markers: f.containerMarkers, rootFsType: f.rootFsType };
  const report = (mode: BuildModeNumber, blockers: ModeBlocker[], forced: boolean): BuildModeReport => ({
    mode,
    name: BUILD_MODE_NAMES[mode],
    isolation: mode === 1 ? 'namespaces' : mode === 2 ? 'none' : 'no-run',
    forced,
    blockers,
    notes: mode === 1 ? mode1Notes(f) : [],
    container,
    facts: f,
  });
  if (req.isolation === 'oci' || req.isolation === 'chroot') {
    if (b1.length > 0) throw new BuildModeUnavailableError(req.isolation, b1);
    return report(1, [], true);
  }
  if (req.isolation === 'none') {
    if (f.uid !== 0) throw new BuildModeUnavailableError('none', b2);
    if (!disposable && !force) throw new InPlaceRefusedError(f.containerMarkers);
    return report(2, [], true);
  }
  if (b1.length === 0) return report(1, [], false);
  if (b2.length === 0) return report(2, b1, force && !disposable);
  return report(3, [...b1, ...b2], false);
}

/** `--force-in-place` or SLIPWAY_FORCE_IN_PLACE=1|true|yes. */
export function forceInPlaceFromEnv(env: Record<string, string | undefined>): boolean {
  return /^(1|true|yes)$/i.test(env.SLIPWAY_FORCE_IN_PLACE ?? '');
}

/** The build log's first line, e.g. "mode 2 (in-place, --isolation=none): root in a container without user namespaces: ...". */
export function formatBuildMode(r: BuildModeReport): string {
  const head =
    r.mode === 1
      ? 'mode 1 (rootless: RUN steps in namespaces)'
      : r.mode === 2
        ? 'mode 2 (in-place, --isolation=none: RUN steps run directly in this container, "/" is replaced)'
        : 'mode 3 (no RUN: only Dockerfiles without RUN can build here)';
  const why = r.forced ? 'chosen with --isolation/--force-in-place' : r.blockers.length > 0 ? r.blockers.map((b) => b.reason).join('; ') : '';
  return why ? `${head}: ${why}` : head;
}

/** Text lines for `slipway info`: the mode, then every blocker and note with its fix. */
export function formatBuildModeReport(r: BuildModeReport): string[] {
  const lines = [`build mode: ${formatBuildMode(r)}`];
  lines.push(`container: ${r.container.disposable ? `yes (${r.container.markers.join(', ')})` : 'no sign of a disposable container'}${r.container.rootFsType ? `; / is ${r.container.rootFsType}` : ''}`);
  for (const b of r.blockers) lines.push(`mode ${b.mode} unavailable: ${b.reason}`, `  fix: ${b.fix}`);
  for (const n of r.notes) lines.push(`note: ${n.reason}`, `  fix: ${n.fix}`);
  return lines;
}
