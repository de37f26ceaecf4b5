import { chmodSync, lstatSync, mkdtempSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { pushTestImage, testImageLayout } from '../helpers/images.js';
import { makeContext, readLayout } from '../helpers/build-fixture.js';
import { ensureTestUser, rootlessAvailable, runAsTestUser } from '../setup/rootless.js';

const why = rootlessAvailable();
if (why !== null && process.env.CI === 'true') throw new Error(`CI=true but rootless build tests cannot run: ${why}`);

const registry = inject('registry');

/** World-readable copy of a dir tree (mkdtemp makes 0700 dirs). */
function openUp(dir: string): string {
  execFileSync('chmod', ['-R', 'a+rX', dir]);
  return dir;
}

describe.skipIf(why !== null)('slipway build as a non-root user (user namespace)', () => {
  let base: string;
  let user: ReturnType<typeof ensureTestUser>;
  beforeAll(async () => {
    user = ensureTestUser();
    const layout = await testImageLayout();
    await pushTestImage(layout, registry, 'rootless/busybox:1');
    base = `${registry}/rootless/busybox:1`;
  });

  it('runs RUN steps as root of the namespace: chown, USER, files owned by image ids, not the caller', async () => {
    const ctx = openUp(makeContext({
      Dockerfile: [
        `FROM ${base}`,
        'COPY --chown=1000:1000 app /app',
        'RUN id -u > /whoami && touch /owned && chown 1234:4321 /owned && mkdir -p /home/user/data && chown user:user /home/user/data',
        'USER user',
        'RUN id -u > /home/user/data/uid',
        'WORKDIR /home/user/work',
      ].join('\n'),
      'app/a.txt': 'a',
    }));
    const out = mkdtempSync(join(tmpdir(), 'slipway-rootless-out-'));
    chmodSync(out, 0o777);
    const res = await runAsTestUser(['build', '--progress', 'plain', '--output', `type=oci,dest=${out}/img`, ctx], { timeoutMs: 180_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr.split('\n')[0]).toMatch(/rootless=true/);
    const r = await readLayout(join(out, 'img'));
    expect(r.file('whoami')).toBe('0\n');
    expect(r.stat('owned')).toMatchObject({ uid: 1234, gid: 4321 });
    expect(r.stat('app/a.txt')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(r.file('home/user/data/uid')).toBe('1000\n');
    expect(r.stat('home/user/work')).toMatchObject({ type: 'dir', uid: 1000 });
    // nothing in the image belongs to the calling user's host uid
    const owners = new Set<number>();
    const walk = (d: string): void => {
      for (const n of readdirSync(d)) {
        const st = lstatSync(join(d, n));
        owners.add(st.uid);
        if (st.isDirectory()) walk(join(d, n));
      }
    };
    walk(r.rootfs);
    expect(owners.has(user.uid)).toBe(false);
    // a second build as the same user is fully cached
    const again = await runAsTestUser(['build', '--progress', 'plain', '--output', `type=oci,dest=${out}/img2`, ctx], { timeoutMs: 180_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/CACHED/g)?.length).toBe(4);
  });

  it('also with --isolation chroot (util-linux only)', async () => {
    const ctx = openUp(makeContext({ Dockerfile: `FROM ${base}\nRUN touch /c && chown 42:43 /c && id -u > /uid\n` }));
    const out = mkdtempSync(join(tmpdir(), 'slipway-rootless-chroot-'));
    chmodSync(out, 0o777);
    const res = await runAsTestUser(['build', '--isolation', 'chroot', '--progress', 'plain', '--output', `type=oci,dest=${out}/img`, ctx], { timeoutMs: 180_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr.split('\n')[0]).toMatch(/isolation=chroot rootless=true/);
    const r = await readLayout(join(out, 'img'));
    expect(r.stat('c')).toMatchObject({ uid: 42, gid: 43 });
    expect(r.file('uid')).toBe('0\n');
  });
});
