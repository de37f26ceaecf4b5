import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { makeContext, readLayout } from '../helpers/build-fixture.js';
import { testImageLayout } from '../helpers/images.js';
import { normalizedTree } from '../helpers/tree-compare.js';
import { buildModesWired, lockedDownAvailable, openDir, slipwayLockedDown } from '../setup/locked-down.js';
import { ensureTestUser, NOSUB_USER } from '../setup/rootless.js';

/**
 * Build mode 3 (no RUN possible) in a simulated locked-down CI container run
 * by a non-root user without /etc/subuid ranges, with user namespaces
 * disabled (test/setup/locked-down.ts). NEEDS the CLI's mode detection (no
 * user-namespace re-exec outside mode 1) and the executor's RUN check.
 */
const why = lockedDownAvailable() ?? buildModesWired();
if (why !== null && process.env.CI === 'true') throw new Error(`CI=true but the locked-down simulation cannot run: ${why}`);

const SKIP = (rel: string): boolean => /^(etc\/hosts|etc\/resolv\.conf|etc\/hostname|proc|sys|dev)(\/|$)/.test(rel);

/** World-readable (the simulated user reads the context). */
function open(dir: string): string {
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return dir;
}

describe.skipIf(why !== null)('build mode 3: no user namespace, not root', () => {
  let layout: string;
  let base: string;
  let uid: number;
  beforeAll(async () => {
    layout = await testImageLayout();
    execFileSync('chmod', ['-R', 'a+rX', layout]);
    base = `oci:${layout}:busybox`;
    uid = ensureTestUser(NOSUB_USER, false).uid;
  });

  it('slipway info names mode 3 with every reason and fix', async () => {
    const r = await slipwayLockedDown('nonroot', ['info']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^build mode: mode 3 \(no RUN/m);
    expect(r.stdout).toContain('mode 1 unavailable: user namespaces are disabled (user.max_user_namespaces=0)');
    expect(r.stdout).toContain(`mode 2 unavailable: in-place builds need root inside a container, and this runs as ${NOSUB_USER} (uid ${uid})`);
    expect(r.stdout).toContain('fix: run the job as root in a throwaway container');
  });

  it('Dockerfiles without RUN build, ownership from --chown or root, never the caller', async () => {
    const ctx = open(makeContext({
      Dockerfile: [
        `FROM ${base}`,
        'COPY a.txt /single/a.txt',
        'COPY --chown=1000:1000 dir /owned/',
        'COPY --chmod=0700 a.txt /modes/',
        'ENV A=1',
        'LABEL k=v',
        'WORKDIR /w/x',
        'COPY a.txt rel/',
        'USER user',
        'CMD ["sh"]',
      ].join('\n'),
      'a.txt': 'a\n',
      'dir/one': '1\n',
      'dir/sub/two': '2\n',
    }));
    const out = openDir('slipway-norun-out-');
    const ref = await slipway(['build', '--progress', 'plain', '--root', join(out, 'store-ref'), '--output', `type=oci,dest=${out}/ref`, ctx]);
    expect(ref.code, ref.stderr).toBe(0);
    const res = await slipwayLockedDown('nonroot', ['build', '--progress', 'plain', '--root', join(out, 'store'), '--output', `type=oci,dest=${out}/img`, ctx], { binds: [ctx, out, layout] });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr.split('\n')[0]).toMatch(/^[\d:.]* ?slipway: mode 3 \(no RUN/);
    const got = await readLayout(join(out, 'img'));
    const want = await readLayout(join(out, 'ref'));
    expect(normalizedTree(got.rootfs, SKIP)).toEqual(normalizedTree(want.rootfs, SKIP));
    expect(got.image.config.config).toMatchObject({ Env: expect.arrayContaining(['A=1']), Labels: { k: 'v' }, WorkingDir: '/w/x', User: 'user', Cmd: ['sh'] });
    expect(got.stat('single/a.txt')).toMatchObject({ uid: 0, gid: 0 });
    expect(got.stat('owned/sub/two')).toMatchObject({ uid: 1000, gid: 1000 });
    const owners = new Set(normalizedTree(got.rootfs).map((l) => l.split(' ')[2]));
    expect(owners.has(`${uid}:${uid}`)).toBe(false);
  });

  it('an ONBUILD RUN of the base image is refused the same way, located at the FROM line', async () => {
    const out = openDir('slipway-norun-onbuild-');
    const trig = makeContext({ Dockerfile: `FROM ${base}\nONBUILD RUN echo triggered > /t\n` });
    const made = await slipway(['build', '--root', join(out, 'store-ref'), '--output', `type=oci,dest=${out}/onbuild`, trig]);
    expect(made.code, made.stderr).toBe(0);
    execFileSync('chmod', ['-R', 'a+rX', out]);
    const ctx = open(makeContext({ Dockerfile: `FROM oci:${out}/onbuild\nCOPY a.txt /a\n`, 'a.txt': 'a' }));
    const r = await slipwayLockedDown('nonroot', ['build', '--progress', 'plain', '--root', join(out, 'store'), ctx], { binds: [ctx, out] });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Dockerfile:1: RUN needs a user namespace or root in a container: user namespaces are disabled/);
  });

  it('a Dockerfile with RUN fails at once, one located line per step, before pulling anything', async () => {
    // the base cannot be pulled (nothing listens there): had slipway tried, the error would say so
    const ctx = open(makeContext({ Dockerfile: 'FROM 127.0.0.1:9/nothing/here:1\nCOPY a.txt /a\nRUN echo one\nENV X=1\nRUN --mount=type=cache,target=/c \\\n  echo two\n', 'a.txt': 'a' }));
    const out = openDir('slipway-norun-fail-');
    const r = await slipwayLockedDown('nonroot', ['build', '--progress', 'plain', '--root', join(out, 'store'), ctx], { binds: [ctx, out] });
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => /Dockerfile:\d+: RUN needs/.test(l));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/^(Error: )?Dockerfile:3: RUN needs a user namespace or root in a container: user namespaces are disabled \(user\.max_user_namespaces=0\); fix: on the host .*sysctl -w user\.max_user_namespaces=15000/);
    expect(errors[1]).toMatch(/^Dockerfile:5: RUN needs a user namespace or root in a container: /);
    expect(r.stderr).not.toMatch(/pull|127\.0\.0\.1:9/i);
  });
});
