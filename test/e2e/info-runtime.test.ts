import { describe, expect, it, beforeAll } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { isRoot, requireTools } from '../setup/tools.js';
import { ensureTestUser, NOSUB_USER, rootlessAvailable, runAsTestUser, type TestUser } from '../setup/rootless.js';

const tools = requireTools('unshare', 'newuidmap', 'runc');
const rootlessWhy = rootlessAvailable();
const skipRootless = !tools.ok || rootlessWhy !== null;

interface Info {
  user: string;
  mode: string;
  userNamespaces: { available: boolean };
  subuids: { start: number; count: number }[];
  idMap: string;
  storageDriver: { driver: string; reason: string };
  isolation: string;
  ociRuntime: { name: string; reason: string } | null;
  fixes: string[];
}

let user: TestUser | undefined;
let nosub: TestUser | undefined;
beforeAll(() => {
  if (skipRootless) return;
  user = ensureTestUser();
  nosub = ensureTestUser(NOSUB_USER, false);
});

describe('slipway info', () => {
  it.skipIf(!tools.ok || !isRoot)('as root: no user namespace needed, overlay, oci with a runtime that works here', async () => {
    const r = await slipway(['info', '--format', 'json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as Info;
    expect(info.mode).toBe('root');
    expect(info.idMap).toBe('host');
    expect(info.userNamespaces.available).toBe(true);
    expect(info.storageDriver.driver).toBe('overlay');
    expect(info.isolation).toBe('oci');
    expect(['crun', 'runc']).toContain(info.ociRuntime?.name);
  });

  it.skipIf(!tools.ok)('--isolation chroot and --storage-driver are reported as chosen; text output names each item', async () => {
    const r = await slipway(['info', '--isolation', 'chroot', '--storage-driver', 'vfs']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^isolation: chroot$/m);
    expect(r.stdout).toMatch(/^storage driver: vfs \(forced by --storage-driver\)$/m);
    for (const k of ['user', 'user namespaces', 'subordinate uids', 'subordinate gids', 'id map', 'oci runtime']) expect(r.stdout).toMatch(new RegExp(`^${k}: `, 'm'));
  });

  it.skipIf(!tools.ok)('a missing --runtime is reported with the fix', async () => {
    const r = await slipway(['info', '--runtime', '/nonexistent/runc', '--format', 'json']);
    const info = JSON.parse(r.stdout) as Info;
    expect(info.isolation).toBe('chroot');
    expect(info.fixes.join('\n')).toContain('pass an executable path to --runtime');
  });

  it.skipIf(skipRootless)('rootless: the subordinate ranges, a full map and a runtime found by probing in a namespace', async () => {
    const r = await runAsTestUser(['info', '--format', 'json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as Info;
    expect(info.user).toBe(user!.name);
    expect(info.mode).toBe('rootless');
    expect(info.userNamespaces.available).toBe(true);
    expect(info.subuids[0]?.start).toBe(user!.subuidStart);
    expect(info.idMap).toBe('full');
    expect(info.storageDriver.driver).toBe('overlay');
    expect(info.isolation).toBe('oci');
    expect(info.fixes).toEqual([]);
  });

  it.skipIf(skipRootless)('rootless without /etc/subuid ranges: single map and the exact line to add', async () => {
    const r = await runAsTestUser(['info'], { user: NOSUB_USER });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^id map: single/m);
    expect(r.stdout).toContain(`fix: as root: echo "${NOSUB_USER}:100000:65536" >> /etc/subuid && echo "${NOSUB_USER}:100000:65536" >> /etc/subgid`);
    expect(nosub!.subuidStart).toBe(-1);
  });
});
