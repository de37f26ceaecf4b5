import { describe, expect, it } from 'vitest';
import { detectBuildMode, gatherEnvironmentFacts, type EnvironmentProbes } from '../../src/runtime/index.js';
import { cgroupContainerMarker, parseProcStatus } from '../../src/runtime/modes/facts.js';
import { parseMountInfo, rootFsTypeOf } from '../../src/runtime/modes/mountinfo.js';

const STATUS_DOCKER = 'Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nSeccomp:\t2\nSeccomp_filters:\t1\n';
const STATUS_HOST = 'CapEff:\t000001ffffffffff\nSeccomp:\t0\n';
const MOUNTINFO = [
  '1500 1400 0:120 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/l1,upperdir=/u,workdir=/w',
  '1501 1500 0:123 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw',
  '1510 1500 254:1 /var/lib/docker/containers/abc/hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw',
  '1511 1500 254:1 /home/ci/my\\040builds /builds rw,relatime - ext4 /dev/vda1 rw',
].join('\n');

/** Probes answering from literals: the machine is never consulted. */
function probes(files: Record<string, string>, over: Partial<EnvironmentProbes> = {}, runs: Record<string, { code: number; stderr: string }> = {}): EnvironmentProbes & { ran: string[] } {
  const ran: string[] = [];
  return {
    uid: 0,
    user: 'root',
    env: {},
    readFile: (p) => files[p],
    exists: (p) => p in files,
    which: (n) => (['unshare', 'newuidmap', 'newgidmap'].includes(n) ? `/usr/bin/${n}` : undefined),
    run: async (argv) => {
      ran.push(argv.join(' '));
      return runs[argv.slice(1).join(' ')] ?? { code: 0, stderr: '' };
    },
    ran,
    ...over,
  };
}

describe('environment probes', () => {
  it('parses Seccomp and CAP_SYS_ADMIN from /proc/self/status', () => {
    expect(parseProcStatus(STATUS_DOCKER).seccomp).toBe(2);
    expect(parseProcStatus(STATUS_DOCKER).capEff).toBe(0xa80425fbn);
    expect(parseProcStatus(STATUS_HOST).seccomp).toBe(0);
  });

  it('parses mountinfo with escaped spaces and finds the root filesystem type', () => {
    const m = parseMountInfo(MOUNTINFO);
    expect(m.map((x) => x.mountPoint)).toEqual(['/', '/proc', '/etc/hosts', '/builds']);
    expect(m[3]!.root).toBe('/home/ci/my builds');
    expect(rootFsTypeOf(m)).toBe('overlay');
  });

  it.each([
    ['12:pids:/docker/0123abcd', true],
    ['0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-1.scope', true],
    ['0::/', false],
    ['0::/user.slice/user-1000.slice/session-2.scope', false],
  ])('cgroup %s marks a container: %s', (line, yes) => {
    expect(cgroupContainerMarker(line) !== undefined).toBe(yes);
  });

  it('gathers a locked-down Docker container: root, seccomp filter, no CAP_SYS_ADMIN, /.dockerenv', async () => {
    const p = probes(
      { '/proc/self/status': STATUS_DOCKER, '/proc/self/mountinfo': MOUNTINFO, '/.dockerenv': '', '/proc/sys/user/max_user_namespaces': '31000\n', '/proc/self/uid_map': '         0          0 4294967295\n' },
      {},
      { '--user true': { code: 1, stderr: 'unshare: unshare failed: Operation not permitted' }, '--mount --pid --fork true': { code: 1, stderr: 'unshare: unshare failed: Operation not permitted' } },
    );
    const f = await gatherEnvironmentFacts(p);
    expect(p.ran).toEqual(['/usr/bin/unshare --user true', '/usr/bin/unshare --mount --pid --fork true']);
    expect(f).toMatchObject({
      uid: 0,
      seccomp: 2,
      capSysAdmin: false,
      maxUserNamespaces: 31000,
      inUserNamespace: false,
      userNamespace: { ok: false, error: 'unshare failed: Operation not permitted' },
      containerMarkers: ['/.dockerenv exists'],
      rootFsType: 'overlay',
    });
    const r = await detectBuildMode({ env: {} }, p);
    expect(r.mode).toBe(2);
  });

  it('gathers a non-root user in a Kubernetes pod with its subordinate ranges', async () => {
    const p = probes(
      {
        '/proc/self/status': STATUS_DOCKER,
        '/etc/subuid': 'other:100000:65536\nci:165536:65536\n',
        '/etc/subgid': '1001:165536:1000\n',
        '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '1\n',
      },
      { uid: 1001, user: 'ci', env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' } },
      { '--user true': { code: 1, stderr: 'unshare: unshare failed: Operation not permitted' } },
    );
    const f = await gatherEnvironmentFacts(p);
    expect(p.ran).toEqual(['/usr/bin/unshare --user true']);
    expect(f.subuidCount).toBe(65536);
    expect(f.subgidCount).toBe(1000);
    expect(f.apparmorRestrictUserns).toBe(1);
    expect(f.containerMarkers).toEqual(['$KUBERNETES_SERVICE_HOST is set (Kubernetes pod)']);
    const r = await detectBuildMode({ env: {} }, p);
    expect(r.mode).toBe(3);
    expect(r.blockers.map((b) => b.code)).toEqual(['USERNS_APPARMOR', 'USERNS_SECCOMP', 'NOT_ROOT']);
  });

  it('reads SLIPWAY_FORCE_IN_PLACE from the environment', async () => {
    const p = probes({ '/proc/self/status': STATUS_HOST }, {}, { '--user true': { code: 1, stderr: 'unshare: unshare failed: No space left on device' }, '--mount --pid --fork true': { code: 1, stderr: 'x' } });
    expect((await detectBuildMode({ env: {} }, p)).mode).toBe(3);
    expect((await detectBuildMode({ env: { SLIPWAY_FORCE_IN_PLACE: '1' } }, p)).mode).toBe(2);
  });

  it('without unshare installed, reports it instead of probing', async () => {
    const p = probes({ '/proc/self/status': STATUS_HOST }, { uid: 1000, user: 'dev', which: () => undefined });
    const f = await gatherEnvironmentFacts(p);
    expect(p.ran).toEqual([]);
    expect(f.userNamespace).toBeUndefined();
    expect(f.newidmap).toBe(false);
  });
});
