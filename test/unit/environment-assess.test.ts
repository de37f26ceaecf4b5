import { describe, expect, it } from 'vitest';
import {
  assessBuildMode,
  BuildModeUnavailableError,
  formatBuildMode,
  formatBuildModeReport,
  InPlaceRefusedError,
  type EnvironmentFacts,
} from '../../src/runtime/index.js';

const EPERM = { ok: false, error: 'unshare failed: Operation not permitted' };
const ENOSPC = { ok: false, error: 'unshare failed: No space left on device' };

/** A laptop user with everything working; each case overrides what its environment changes. */
function facts(over: Partial<EnvironmentFacts>): EnvironmentFacts {
  return {
    uid: 1000,
    user: 'dev',
    userNamespace: { ok: true },
    mountNamespace: undefined,
    maxUserNamespaces: 63000,
    apparmorRestrictUserns: undefined,
    unprivilegedUsernsClone: undefined,
    seccomp: 0,
    capSysAdmin: false,
    inUserNamespace: false,
    subuidCount: 65536,
    subgidCount: 65536,
    newidmap: true,
    containerMarkers: [],
    rootFsType: 'ext4',
    ...over,
  };
}

const DOCKER = ['/.dockerenv exists'];
const K8S = ['$KUBERNETES_SERVICE_HOST is set (Kubernetes pod)'];

interface Case {
  name: string;
  f: EnvironmentFacts;
  mode: 1 | 2 | 3;
  blockers: string[];
  notes?: string[];
}

const CASES: Case[] = [
  { name: 'laptop user with subordinate ranges', f: facts({}), mode: 1, blockers: [] },
  { name: 'user without /etc/subuid range still builds rootless, with a note', f: facts({ subuidCount: 0, subgidCount: 0 }), mode: 1, blockers: [], notes: ['NO_SUBUID'] },
  { name: 'user without newuidmap gets a note', f: facts({ newidmap: false }), mode: 1, blockers: [], notes: ['NO_NEWUIDMAP'] },
  { name: 'real root with CAP_SYS_ADMIN', f: facts({ uid: 0, user: 'root', capSysAdmin: true, mountNamespace: { ok: true } }), mode: 1, blockers: [] },
  {
    name: 'GitLab docker executor: root, default seccomp, no CAP_SYS_ADMIN',
    f: facts({ uid: 0, user: 'root', seccomp: 2, userNamespace: EPERM, mountNamespace: EPERM, containerMarkers: DOCKER, rootFsType: 'overlay' }),
    mode: 2,
    blockers: ['ROOT_NO_SYS_ADMIN', 'USERNS_SECCOMP'],
  },
  {
    name: 'Kubernetes RuntimeDefault, non-root',
    f: facts({ seccomp: 2, userNamespace: EPERM, containerMarkers: K8S, subuidCount: 0, subgidCount: 0 }),
    mode: 3,
    blockers: ['USERNS_SECCOMP', 'NOT_ROOT'],
  },
  {
    name: 'Ubuntu host with AppArmor restricting user namespaces',
    f: facts({ apparmorRestrictUserns: 1, userNamespace: EPERM }),
    mode: 3,
    blockers: ['USERNS_APPARMOR', 'NOT_ROOT', 'NOT_DISPOSABLE'],
  },
  {
    name: 'Debian kernel with unprivileged_userns_clone=0',
    f: facts({ unprivilegedUsernsClone: 0, userNamespace: EPERM }),
    mode: 3,
    blockers: ['USERNS_CLONE_SYSCTL', 'NOT_ROOT', 'NOT_DISPOSABLE'],
  },
  {
    name: 'max_user_namespaces=0, root in a container without CAP_SYS_ADMIN',
    f: facts({ uid: 0, user: 'root', maxUserNamespaces: 0, userNamespace: ENOSPC, mountNamespace: EPERM, containerMarkers: DOCKER }),
    mode: 2,
    blockers: ['ROOT_NO_SYS_ADMIN', 'USERNS_SYSCTL_MAX'],
  },
  {
    name: 'root on a machine that is not a container, no namespaces',
    f: facts({ uid: 0, user: 'root', maxUserNamespaces: 0, userNamespace: ENOSPC, mountNamespace: EPERM }),
    mode: 3,
    blockers: ['ROOT_NO_SYS_ADMIN', 'USERNS_SYSCTL_MAX', 'NOT_DISPOSABLE'],
  },
  {
    name: 'root without CAP_SYS_ADMIN where user namespaces work (seccomp Unconfined)',
    f: facts({ uid: 0, user: 'root', mountNamespace: EPERM, containerMarkers: K8S }),
    mode: 2,
    blockers: ['ROOT_NO_SYS_ADMIN'],
  },
  { name: 'unshare not installed', f: facts({ userNamespace: undefined }), mode: 3, blockers: ['NO_UNSHARE', 'NOT_ROOT', 'NOT_DISPOSABLE'] },
  { name: 'an unexplained failure still names the probe error', f: facts({ userNamespace: { ok: false, error: 'unshare failed: Invalid argument' } }), mode: 3, blockers: ['USERNS_FAILED', 'NOT_ROOT', 'NOT_DISPOSABLE'] },
];

describe('build mode from environment facts', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const r = assessBuildMode(c.f);
    expect(r.mode).toBe(c.mode);
    expect(r.blockers.map((b) => b.code)).toEqual(c.blockers);
    expect(r.notes.map((b) => b.code)).toEqual(c.notes ?? []);
    for (const b of [...r.blockers, ...r.notes]) expect(b.fix.length).toBeGreaterThan(20);
  });

  it('gives the exact seccomp, AppArmor, sysctl and subuid fixes', () => {
    const seccomp = assessBuildMode(facts({ seccomp: 2, userNamespace: EPERM })).blockers[0]!;
    expect(seccomp.fix).toContain('seccompProfile.type: Unconfined');
    expect(seccomp.fix).toContain('CLONE_NEWUSER');
    expect(seccomp.fix).toContain('security_opt = ["seccomp:unconfined"]');
    const aa = assessBuildMode(facts({ apparmorRestrictUserns: 1, userNamespace: EPERM })).blockers[0]!;
    expect(aa.fix).toContain('sysctl -w kernel.apparmor_restrict_unprivileged_userns=0');
    const max = assessBuildMode(facts({ maxUserNamespaces: 0, userNamespace: ENOSPC })).blockers[0]!;
    expect(max.fix).toContain('sysctl -w user.max_user_namespaces=15000');
    const sub = assessBuildMode(facts({ user: 'ci', subuidCount: 0 })).notes[0]!;
    expect(sub.fix).toContain('echo "ci:100000:65536" >> /etc/subuid');
  });

  it('--force-in-place allows mode 2 where / does not look disposable', () => {
    const f = facts({ uid: 0, user: 'root', mountNamespace: EPERM, userNamespace: ENOSPC, maxUserNamespaces: 0 });
    expect(assessBuildMode(f).mode).toBe(3);
    const r = assessBuildMode(f, { forceInPlace: true });
    expect(r.mode).toBe(2);
    expect(r.forced).toBe(true);
  });

  it('--isolation=none refuses a non-disposable root filesystem and explains that / would be replaced', () => {
    const f = facts({ uid: 0, user: 'root', capSysAdmin: true, mountNamespace: { ok: true } });
    expect(() => assessBuildMode(f, { isolation: 'none' })).toThrow(InPlaceRefusedError);
    try {
      assessBuildMode(f, { isolation: 'none' });
    } catch (e) {
      expect((e as InPlaceRefusedError).message).toContain('replaces the root filesystem "/"');
      expect((e as InPlaceRefusedError).hint).toContain('--force-in-place');
      expect((e as InPlaceRefusedError).hint).toContain('SLIPWAY_FORCE_IN_PLACE=1');
    }
    expect(assessBuildMode(f, { isolation: 'none', forceInPlace: true }).mode).toBe(2);
    expect(assessBuildMode({ ...f, containerMarkers: DOCKER }, { isolation: 'none' }).mode).toBe(2);
  });

  it('--isolation=none as a non-root user and --isolation=oci without namespaces fail with the reason', () => {
    expect(() => assessBuildMode(facts({ containerMarkers: DOCKER }), { isolation: 'none' })).toThrow(/in-place builds need root/);
    const err = (() => {
      try {
        assessBuildMode(facts({ seccomp: 2, userNamespace: EPERM }), { isolation: 'oci' });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(BuildModeUnavailableError);
    expect((err as BuildModeUnavailableError).message).toContain('seccomp');
  });

  it('formats the first log line and the info report with every blocker and fix', () => {
    const r = assessBuildMode(facts({ uid: 0, user: 'root', seccomp: 2, userNamespace: EPERM, mountNamespace: EPERM, containerMarkers: DOCKER }));
    expect(formatBuildMode(r)).toMatch(/^mode 2 \(in-place, --isolation=none/);
    expect(formatBuildMode(r)).toContain('without CAP_SYS_ADMIN');
    const lines = formatBuildModeReport(r);
    expect(lines[0]).toMatch(/^build mode: mode 2/);
    expect(lines.filter((l) => l.startsWith('mode 1 unavailable:'))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('  fix: '))).toHaveLength(2);
    expect(lines[1]).toContain('/.dockerenv exists');
  });
});
