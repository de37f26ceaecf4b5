import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { makeContext, readLayout } from '../helpers/build-fixture.js';
import { testImageLayout } from '../helpers/images.js';
import { normalizedTree } from '../helpers/tree-compare.js';
import { buildModesWired, lockedDownAvailable, openDir, runInLockedDown, slipwayArgv, slipwayLockedDown } from '../setup/locked-down.js';

/**
 * Build mode 2 (in place, Kaniko's model) in a simulated locked-down CI
 * container (test/setup/locked-down.ts): root, no user namespaces
 * (max_user_namespaces=0), no CAP_SYS_ADMIN, /.dockerenv present. NEEDS the
 * executor hook (src/build: ctx.inPlace) and the CLI's mode detection.
 */
const why = lockedDownAvailable() ?? buildModesWired();
if (why !== null && process.env.CI === 'true') throw new Error(`CI=true but the locked-down simulation cannot run: ${why}`);

/**
 * Skip list: the runtime's own files, and proc/sys/dev, which the reference build (mode 1, as root
 * with --isolation=oci) leaves in its image as empty mount-point dirs while BuildKit does not
 * (reported to the runtime owner); the in-place build never captures them.
 */
const SKIP = (rel: string): boolean => /^(etc\/hosts|etc\/resolv\.conf|etc\/hostname|proc|sys|dev)(\/|$)/.test(rel);

function cases(base: string): [string, Record<string, string>][] {
  return [
    [
      'RUN: files, links, deletions from the base, ownership, modes',
      {
        Dockerfile: [
          `FROM ${base}`,
          'RUN mkdir -p /data/sub && echo x > /data/sub/f && ln -s sub/f /data/link && ln /data/sub/f /data/hard && chmod 4755 /data/sub/f',
          'RUN rm -f /etc/group /bin/vi && chown -R 1000:1000 /data && touch /owned && chown 1234:4321 /owned',
          'RUN rm -rf /data/sub && mkdir /data/sub && echo y > /data/sub/g',
        ].join('\n'),
      },
    ],
    [
      'COPY then RUN over the copied files; USER, WORKDIR, ENV and ARG seen by RUN',
      {
        Dockerfile: [
          `FROM ${base}`,
          'ARG GREETING=hello',
          'ENV TARGET=/app',
          'COPY --chown=1000:1000 app /app',
          'RUN sh /app/run.sh "$GREETING" && rm /app/run.sh',
          'USER user',
          'WORKDIR /srv/work',
          'RUN id -u > uid && pwd > pwd && echo "$HOME" > home',
        ].join('\n'),
        'app/run.sh': 'echo "$1" > "$TARGET/greeting"; chmod 600 "$TARGET/greeting"\n',
        'app/keep.txt': 'keep\n',
      },
    ],
    [
      'multi-stage: each stage sees only its own files (kaniko#615, #3318), COPY --from both',
      {
        Dockerfile: [
          `FROM ${base} AS a`,
          'RUN mkdir /a && echo a > /a/file && rm /bin/ls',
          `FROM ${base} AS b`,
          'RUN test ! -e /a && test -e /bin/ls && mkdir /b && echo b > /b/file',
          'RUN echo more > /b/more',
          'FROM a',
          'COPY --from=b /b /b',
          'RUN test -e /a/file && test ! -e /bin/ls && cat /a/file /b/file /b/more > /joined',
        ].join('\n'),
      },
    ],
    [
      'RUN --mount=type=cache and type=bind leave nothing in the image',
      {
        Dockerfile: [
          `FROM ${base}`,
          'RUN --mount=type=cache,target=/var/cache/thing echo cached > /var/cache/thing/c && echo run1 > /r1',
          'RUN --mount=type=cache,target=/var/cache/thing cat /var/cache/thing/c > /r2',
          'RUN --mount=type=bind,source=files,target=/mnt/ctx cat /mnt/ctx/in.txt > /r3',
        ].join('\n'),
        'files/in.txt': 'from the context\n',
      },
    ],
  ];
}

async function tree(out: string): Promise<string[]> {
  const r = await readLayout(out);
  return normalizedTree(r.rootfs, SKIP);
}

describe.skipIf(why !== null)('build mode 2: in place in a locked-down container', () => {
  let layout: string;
  let base: string;
  beforeAll(async () => {
    layout = await testImageLayout();
    base = `oci:${layout}:busybox`;
  });

  it('slipway info names mode 2 and why namespaces are unavailable', async () => {
    const r = await slipwayLockedDown('container', ['info']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^build mode: mode 2 \(in-place/m);
    expect(r.stdout).toContain('mode 1 unavailable: running as root without CAP_SYS_ADMIN');
    expect(r.stdout).toContain('mode 1 unavailable: user namespaces are disabled (user.max_user_namespaces=0)');
    expect(r.stdout).toContain('fix: on the host (Kubernetes: the node): sysctl -w user.max_user_namespaces=15000');
    expect(r.stdout).toContain('container: yes (/.dockerenv exists)');
  });

  it('builds the same images as the rootless mode, compared as normalized trees', async () => {
    for (const [name, files] of cases(base)) {
      const ctx = makeContext(files);
      const out = openDir('slipway-lockeddown-out-');
      const ref = await slipway(['build', '--progress', 'plain', '--root', join(out, 'store-ref'), '--output', `type=oci,dest=${out}/ref`, ctx]);
      expect(ref.code, `${name}: ${ref.stderr}`).toBe(0);
      expect(ref.stderr.split('\n')[0]).toMatch(/^[\d:.]* ?slipway: mode 1 /);
      const res = await slipwayLockedDown('container', ['build', '--progress', 'plain', '--root', join(out, 'store'), '--output', `type=oci,dest=${out}/img`, ctx], { binds: [ctx, out, layout] });
      expect(res.code, `${name}: ${res.stderr}`).toBe(0);
      expect(res.stderr.split('\n')[0]).toMatch(/^[\d:.]* ?slipway: mode 2 \(in-place, --isolation=none/);
      const [got, want] = [await tree(join(out, 'img')), await tree(join(out, 'ref'))];
      expect({ name, extra: got.filter((l) => !want.includes(l)), missing: want.filter((l) => !got.includes(l)) }).toEqual({ name, extra: [], missing: [] });
      // what the base image owns stays as it was (home/user belongs to 1000 in the test image)
      expect(got).toContain('home/user 755 1000:1000 dir');
    }
  });

  it('a failing RUN reports its exit code and location, and the next build in the same container works', async () => {
    const ctx = makeContext({ Dockerfile: `FROM ${base}\nRUN echo fine > /fine\nRUN exit 3\n` });
    const good = makeContext({ Dockerfile: `FROM ${base}\nRUN echo ok > /ok\n` });
    const out = openDir('slipway-lockeddown-fail-');
    const argv1 = await slipwayArgv(['build', '--progress', 'plain', '--root', join(out, 'store'), ctx]);
    const argv2 = await slipwayArgv(['build', '--progress', 'plain', '--root', join(out, 'store'), '--output', `type=oci,dest=${out}/img`, good]);
    // both builds in the same container: the second starts from whatever the failed one left in "/"
    writeFileSync(join(out, 'two-builds.sh'), `${argv1.join(' ')}\necho "first=$?" >&2\n${argv2.join(' ')}\necho "second=$?" >&2\n`);
    const r = await runInLockedDown('container', ['sh', join(out, 'two-builds.sh')], { binds: [ctx, good, out, layout] });
    expect(r.stderr).toContain('Dockerfile:3: RUN /bin/sh -c exit 3 failed with exit code 3');
    expect(r.stderr).toContain('first=1');
    expect(r.stderr).toContain('second=0');
    expect((await readLayout(join(out, 'img'))).file('ok')).toBe('ok\n');
  });
});

describe.skipIf(why !== null)('build mode 2 is refused where "/" does not look disposable', () => {
  let layout: string;
  let ctx: string;
  beforeAll(async () => {
    layout = await testImageLayout();
    ctx = makeContext({ Dockerfile: `FROM oci:${layout}:busybox\nRUN echo in-place > /proof\n` });
  });

  it('--isolation=none is refused with the danger explained, and "/" is left alone', async () => {
    const argv = await slipwayArgv(['build', '--isolation=none', ctx]);
    const r = await runInLockedDown('host', ['sh', '-c', '"$@"; echo "exit=$?"; test -e /etc/os-release && echo ROOT-INTACT', 'sh', ...argv], { binds: [ctx, layout] });
    expect(r.stdout).toContain('exit=2');
    expect(r.stdout).toContain('ROOT-INTACT');
    expect(r.stderr).toContain('refusing to build in place (--isolation=none): this does not look like a disposable container');
    expect(r.stderr).toContain('replaces the root filesystem "/"');
    expect(r.stderr).toContain('--force-in-place or set SLIPWAY_FORCE_IN_PLACE=1');
  });

  it('without --isolation, RUN steps fail with the located explanation (mode 3)', async () => {
    const r = await slipwayLockedDown('host', ['build', '--progress', 'plain', ctx], { binds: [ctx, layout] });
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/^[\d:.]* ?slipway: mode 3 /);
    expect(r.stderr).toMatch(/Dockerfile:2: RUN needs a user namespace or root in a container: this does not look like a disposable container.*; fix: .*--force-in-place/);
  });

  it('--force-in-place (or SLIPWAY_FORCE_IN_PLACE=1) builds in place anyway', async () => {
    const out = openDir('slipway-lockeddown-force-');
    const argv = await slipwayArgv(['build', '--progress', 'plain', '--root', join(out, 'store'), '--output', `type=oci,dest=${out}/img`, ctx]);
    const r = await runInLockedDown('host', ['sh', '-c', '"$@"; echo "exit=$?"; test -e /etc/os-release || echo ROOT-REPLACED', 'sh', ...argv], { binds: [ctx, out, layout], env: { SLIPWAY_FORCE_IN_PLACE: '1' } });
    expect(r.stdout, r.stderr).toContain('exit=0');
    expect(r.stdout).toContain('ROOT-REPLACED');
    expect((await readLayout(join(out, 'img'))).file('proof')).toBe('in-place\n');
    execFileSync('rm', ['-rf', out]);
  });
});
