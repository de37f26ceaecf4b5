import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { isRoot, requireTools } from '../setup/tools.js';
import { ensureTestUser, makeBusyboxRootfs, NOSUB_USER, rootlessAvailable, runAsTestUser } from '../setup/rootless.js';

const tools = requireTools('unshare', 'setpriv', 'newuidmap', 'runc', 'busybox', 'fuse-overlayfs');
const rootlessWhy = rootlessAvailable();
const skip = !tools.ok || !isRoot;
const skipRootless = skip || rootlessWhy !== null;

let base = '';
beforeAll(() => {
  if (skip) return;
  base = mkdtempSync('/tmp/slipway-rt-storage-');
  chmodSync(base, 0o755);
  makeBusyboxRootfs(join(base, 'root-lower'));
});
afterAll(() => {
  if (base) execFileSync('rm', ['-rf', base]);
});

function dirs(name: string): { upper: string; work: string } {
  const d = join(base, name);
  for (const s of ['upper', 'work']) mkdirSync(join(d, s), { recursive: true });
  return { upper: join(d, 'upper'), work: join(d, 'work') };
}

describe('rootfs storage', () => {
  it.skipIf(skip)('a plain directory rootfs is changed in place', async () => {
    const dir = makeBusyboxRootfs(join(base, 'plain'));
    const r = await slipway(['run-step', '--rootfs', dir, '--isolation', 'chroot', '--', 'sh', '-c', 'echo hi > /made-here']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'made-here'), 'utf8')).toBe('hi\n');
  });

  it.skipIf(skip)('120 lower dirs with long paths still mount (short links beyond a page of options)', async () => {
    const lowers: string[] = [];
    for (let i = 0; i < 120; i++) {
      const l = join(base, 'many', `layer-${'x'.repeat(40)}-${String(i).padStart(3, '0')}`);
      mkdirSync(join(l, 'layers'), { recursive: true });
      writeFileSync(join(l, 'layers', String(i)), '');
      lowers.push(l);
    }
    lowers.push(join(base, 'root-lower'));
    const o = dirs('many-rw');
    const r = await slipway(['run-step', ...lowers.flatMap((l) => ['--lower', l]), '--upper', o.upper, '--work', o.work, '--isolation', 'chroot', '--', 'sh', '-c', 'ls /layers | wc -l']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('120');
  });

  // /dev/fuse is often root-only (0600): fuse-overlayfs is exercised as root, where it always works.
  it.skipIf(skip)('--storage-driver fuse-overlayfs: the rootfs is a FUSE mount and changes land in the upper dir', async () => {
    const o = dirs('fuse');
    const r = await slipway(['run-step', '--storage-driver', 'fuse-overlayfs', '--lower', join(base, 'root-lower'), '--upper', o.upper, '--work', o.work, '--isolation', 'chroot', '--', 'sh', '-c', 'echo x > /etc/new && chown 1000:1000 /etc/new && grep -c "^fuse-overlayfs / " /proc/mounts']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1');
    expect(statSync(join(o.upper, 'etc', 'new')).uid).toBe(1000);
  });

  it.skipIf(skipRootless || !requireTools('getfattr').ok)('rootless overlay: deletions are 0:0 whiteouts, a re-created dir is opaque by the xattr runStep reports', async () => {
    const u = ensureTestUser();
    const d = join(base, 'whiteouts');
    makeBusyboxRootfs(join(d, 'lower'), (id) => (id === 0 ? u.uid : u.subuidStart + id - 1));
    mkdirSync(join(d, 'lower', 'data', 'sub'), { recursive: true });
    writeFileSync(join(d, 'lower', 'data', 'gone'), '');
    writeFileSync(join(d, 'lower', 'data', 'sub', 'old'), '');
    for (const s of ['upper', 'work']) mkdirSync(join(d, s));
    execFileSync('chown', ['-R', `${u.uid}:${u.gid}`, d]);
    const r = await runAsTestUser(['run-step', '--debug', '--lower', join(d, 'lower'), '--upper', join(d, 'upper'), '--work', join(d, 'work'), '--isolation', 'oci', '--', 'sh', '-c', 'rm /data/gone && rm -r /data/sub && mkdir /data/sub']);
    expect(r.code).toBe(0);
    const xattr = /opaque dirs marked by xattr (\S+),/.exec(r.stderr)?.[1];
    expect(xattr).toBe('user.overlay.opaque');
    const wo = statSync(join(d, 'upper', 'data', 'gone'));
    expect(wo.isCharacterDevice() && wo.rdev === 0).toBe(true);
    expect(execFileSync('getfattr', ['--only-values', '-n', xattr!, join(d, 'upper', 'data', 'sub')], { encoding: 'utf8' })).toBe('y');
  });

  it.skipIf(skipRootless)('--storage-driver vfs (rootless): the lowers are copied into --upper, which the step changes in place', async () => {
    const u = ensureTestUser();
    const d = join(base, 'vfs');
    makeBusyboxRootfs(join(d, 'lower'), (id) => (id === 0 ? u.uid : u.subuidStart + id - 1));
    for (const s of ['upper', 'work']) mkdirSync(join(d, s));
    execFileSync('chown', [`${u.uid}:${u.gid}`, d, join(d, 'upper'), join(d, 'work')]);
    const r = await runAsTestUser(['run-step', '--debug', '--storage-driver', 'vfs', '--lower', join(d, 'lower'), '--upper', join(d, 'upper'), '--work', join(d, 'work'), '--isolation', 'chroot', '--', 'sh', '-c', 'rm /bin/vi && echo v > /etc/vfs && grep -c " / overlay " /proc/mounts']);
    expect(r.stderr).toContain('storage: vfs, copied 1 lower dir(s)');
    expect(r.stdout.trim()).toBe('0');
    expect(readFileSync(join(d, 'upper', 'etc', 'vfs'), 'utf8')).toBe('v\n');
    expect(existsSync(join(d, 'upper', 'bin', 'vi'))).toBe(false);
    expect(existsSync(join(d, 'lower', 'bin', 'vi'))).toBe(true);
  });

  it.skipIf(skip)('mountRootfs/unmountRootfs mount an overlay plan here and take it away', async () => {
    const { mountRootfs, unmountRootfs, overlayMountPlan } = await import('../../src/runtime/storage.js');
    const o = dirs('lib-mount');
    const target = join(base, 'lib-mount', 'merged');
    const plan = overlayMountPlan({ lowers: [join(base, 'root-lower')], upper: o.upper, work: o.work }, 'overlay', false);
    await mountRootfs(plan, target);
    try {
      expect(existsSync(join(target, 'bin', 'busybox'))).toBe(true);
      writeFileSync(join(target, 'written'), 'w');
    } finally {
      await unmountRootfs(target, plan);
    }
    expect(existsSync(join(target, 'bin', 'busybox'))).toBe(false);
    expect(readFileSync(join(o.upper, 'written'), 'utf8')).toBe('w');
  });

  it.skipIf(skipRootless)('a user without subordinate ranges runs with a single-ID map and a warning saying what to add', async () => {
    const nosub = ensureTestUser(NOSUB_USER, false);
    const dir = join(base, 'nosub-rootfs');
    makeBusyboxRootfs(dir, () => nosub.uid);
    execFileSync('chown', ['-R', `${nosub.uid}:${nosub.gid}`, dir]);
    const r = await runAsTestUser(['run-step', '--rootfs', dir, '--isolation', 'chroot', '--root', join(dir, 'tmp', 'store'), '--', 'sh', '-c', 'id -u; cat /proc/self/uid_map | wc -l; chown 1000 /etc/passwd'], { user: NOSUB_USER });
    expect(r.stderr).toContain(`warning: no subordinate ID range for user "${NOSUB_USER}"`);
    expect(r.stderr).toContain(`echo "${NOSUB_USER}:100000:65536" >> /etc/subuid`);
    expect(r.stdout.trim()).toBe('0\n1');
    expect(r.code).not.toBe(0);
    expect(existsSync(dir)).toBe(true);
  });
});
