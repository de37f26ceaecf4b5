import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { isRoot, requireTools, haveTool } from '../setup/tools.js';
import { makeBusyboxRootfs } from '../setup/rootless.js';

const tools = requireTools('unshare', 'setpriv', 'runc', 'busybox');
const skip = !tools.ok || !isRoot;
let base = '';
beforeAll(() => {
  if (skip) return;
  base = mkdtempSync('/tmp/slipway-rt-oci-');
  chmodSync(base, 0o755);
  makeBusyboxRootfs(join(base, 'rootfs'));
});
afterAll(() => {
  if (base) execFileSync('rm', ['-rf', base]);
});

describe('OCI runtime choice', () => {
  it.skipIf(skip)('probes crun then runc once, remembers the choice in the store, and says why', async () => {
    const store = join(base, 'store-default');
    // an empty machine cache: this run probes
    const env = { XDG_CACHE_HOME: mkdtempSync(join(base, 'cache-')) };
    const r = await slipway(['run-step', '--debug', '--root', store, '--rootfs', join(base, 'rootfs'), '--', 'true'], { env });
    expect(r.code).toBe(0);
    const m = /runtime: oci \((\w+): ([^)]+)\)/.exec(r.stderr);
    expect(m).not.toBeNull();
    const remembered = JSON.parse(readFileSync(join(store, 'tmp', 'oci-runtime.json'), 'utf8')) as { name: string; path: string; reason: string };
    expect(remembered.name).toBe(m![1]);
    if (haveTool('crun') && remembered.name === 'runc') expect(remembered.reason).toMatch(/^crun: /);
    const again = await slipway(['info', '--root', store, '--format', 'json'], { env });
    expect((JSON.parse(again.stdout) as { ociRuntime: { reason: string } }).ociRuntime.reason).toMatch(/\(remembered\)$/);
  });

  it.skipIf(skip)('a new store on the same machine takes the choice from the user cache instead of probing again', async () => {
    const home = mkdtempSync(join(base, 'home-'));
    const env = { XDG_CACHE_HOME: join(home, 'cache') };
    const first = await slipway(['run-step', '--debug', '--root', join(base, 'store-u1'), '--rootfs', join(base, 'rootfs'), '--', 'true'], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(existsSync(join(home, 'cache', 'slipway', 'oci-runtime.json'))).toBe(true);
    const second = await slipway(['info', '--root', join(base, 'store-u2'), '--format', 'json'], { env });
    const rt = (JSON.parse(second.stdout) as { ociRuntime: { name: string; reason: string } }).ociRuntime;
    expect(rt.reason).toMatch(/\(remembered\)$/);
    expect(rt.name).toBe(/runtime: oci \((\w+):/.exec(first.stderr)?.[1]);
    // and the new store remembers it too
    expect(JSON.parse(readFileSync(join(base, 'store-u2', 'tmp', 'oci-runtime.json'), 'utf8'))).toMatchObject({ name: rt.name });
    // a mounted test overlay is remembered the same way (`info` above probed it)
    const third = await slipway(['info', '--root', join(base, 'store-u3'), '--format', 'json'], { env });
    const storage = (JSON.parse(third.stdout) as { storageDriver: { driver: string; reason: string } }).storageDriver;
    if (storage.driver === 'overlay') expect(storage.reason).toMatch(/remembered\)$/);
  });

  it.skipIf(skip)('--runtime PATH forces that runtime without probing', async () => {
    const r = await slipway(['run-step', '--debug', '--root', join(base, 'store-forced'), '--runtime', 'runc', '--rootfs', join(base, 'rootfs'), '--', 'sh', '-c', 'exit 3']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/runtime: oci \(runc: \/\S+runc\)/);
    expect(existsSync(join(base, 'store-forced', 'tmp', 'oci-runtime.json'))).toBe(false);
  });

  it.skipIf(skip)('an unknown --runtime is an error naming it', async () => {
    const r = await slipway(['run-step', '--root', join(base, 'store-bad'), '--runtime', '/nonexistent/crun', '--rootfs', join(base, 'rootfs'), '--', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Error: OCI runtime "/nonexistent/crun" not found');
  });
});
