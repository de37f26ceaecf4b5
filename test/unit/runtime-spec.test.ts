import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ociConfig, type OciConfigInput } from '../../src/runtime/oci-config.js';
import { overlayMountPlan } from '../../src/runtime/storage.js';
import { RootfsView } from '../../src/runtime/rootfs-view.js';
import { DEFAULT_CAPABILITIES } from '../../src/runtime/capabilities.js';
import { chrootMain, shq } from '../../src/runtime/step-script.js';
import { parseRunMount } from '../../src/cli/commands/run.js';

const BASE: OciConfigInput = {
  rootfs: '/b/root', argv: ['sh', '-c', 'true'], env: ['PATH=/bin'], cwd: '/w', uid: 0, gid: 0, additionalGids: [],
  hostname: 'h', network: 'host', extraMounts: [], nofile: 20000, userns: false, singleIdMap: false,
};

function nsTypes(c: Record<string, unknown>): string[] {
  return ((c.linux as { namespaces: { type: string }[] }).namespaces).map((n) => n.type);
}
function mount(c: Record<string, unknown>, dest: string) {
  return (c.mounts as { destination: string; type: string; options: string[] }[]).find((m) => m.destination === dest);
}

describe('ociConfig: runtime-spec bundle for a step', () => {
  it('root gets Docker\'s default capabilities, a non-root user none effective', () => {
    const root = ociConfig(BASE).process as { capabilities: Record<string, string[]>; noNewPrivileges: boolean };
    expect(root.capabilities.effective).toEqual([...DEFAULT_CAPABILITIES]);
    expect(root.capabilities.bounding).not.toContain('CAP_SYS_ADMIN');
    expect(root.noNewPrivileges).toBe(true);
    const user = ociConfig({ ...BASE, uid: 1000, gid: 1000, additionalGids: [2000] }).process as { capabilities: Record<string, string[]>; user: unknown };
    expect(user.capabilities.effective).toEqual([]);
    expect(user.capabilities.bounding).toEqual([...DEFAULT_CAPABILITIES]);
    expect(user.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [2000] });
  });

  it.each([
    ['host', false, ['mount', 'uts', 'ipc'], 'sysfs'],
    ['none', false, ['mount', 'uts', 'ipc', 'network'], 'sysfs'],
    ['host', true, ['mount', 'uts', 'ipc'], 'none'],
    ['none', true, ['mount', 'uts', 'ipc', 'network'], 'sysfs'],
  ] as const)('network %s, userns %s: namespaces %j, /sys type %s', (network, userns, ns, sysType) => {
    const c = ociConfig({ ...BASE, network, userns });
    expect(nsTypes(c)).toEqual(ns);
    expect(mount(c, '/sys')?.type).toBe(sysType);
    expect(mount(c, '/sys')?.options).toContain('ro');
  });

  it('rlimit NOFILE is the given (caller\'s hard) limit; masked and read-only paths are set', () => {
    const c = ociConfig(BASE);
    expect((c.process as { rlimits: unknown }).rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
    const linux = c.linux as { maskedPaths: string[]; readonlyPaths: string[] };
    expect(linux.maskedPaths).toContain('/proc/kcore');
    expect(linux.readonlyPaths).toContain('/proc/sys');
  });

  it('a single-ID map drops devpts gid=5 (unmapped); an own user namespace carries the maps', () => {
    expect(mount(ociConfig(BASE), '/dev/pts')?.options).toContain('gid=5');
    expect(mount(ociConfig({ ...BASE, singleIdMap: true }), '/dev/pts')?.options).not.toContain('gid=5');
    const c = ociConfig({ ...BASE, idMaps: { uid: [{ containerID: 0, hostID: 1001, size: 1 }], gid: [{ containerID: 0, hostID: 1001, size: 1 }] } });
    expect(nsTypes(c)).toContain('user');
    expect((c.linux as { uidMappings: unknown }).uidMappings).toEqual([{ containerID: 0, hostID: 1001, size: 1 }]);
  });
});

describe('overlayMountPlan', () => {
  const layout = { lowers: ['/s/l2', '/s/l1'], upper: '/s/u', work: '/s/w' };
  it.each([
    ['overlay', false, ['lowerdir=/s/l2:/s/l1', 'upperdir=/s/u', 'workdir=/s/w', 'redirect_dir=off', 'metacopy=off'], 'trusted.overlay.opaque'],
    ['overlay', true, ['lowerdir=/s/l2:/s/l1', 'upperdir=/s/u', 'workdir=/s/w', 'userxattr'], 'user.overlay.opaque'],
    ['fuse-overlayfs', true, ['lowerdir=/s/l2:/s/l1', 'upperdir=/s/u', 'workdir=/s/w'], 'user.fuseoverlayfs.opaque'],
  ] as const)('%s (userns %s) -> %j', (driver, userns, options, opaque) => {
    const p = overlayMountPlan(layout, driver, userns);
    expect(p.options).toEqual(options);
    expect(p.opaqueXattr).toBe(opaque);
    expect(p.cwd).toBeUndefined();
  });

  const longLowers = (n: number) => Array.from({ length: n }, (_, i) => `/var/lib/slipway/layers/sha256/${String(i).padStart(64, '0')}/fs`);
  const steps = { upper: '/var/lib/slipway/steps/x/upper', work: '/var/lib/slipway/steps/x/work' };

  it('long lowers become relative to a common dir so the options fit one page', () => {
    const p = overlayMountPlan({ lowers: longLowers(40), ...steps }, 'overlay', false);
    expect(p.cwd).toBe('/var/lib/slipway');
    expect(p.links).toEqual([]);
    expect(p.options.join(',').length).toBeLessThan(4096);
    expect(p.options[0]).toMatch(/^lowerdir=layers\/sha256\/0{64}\/fs:/);
  });

  it('too many for relative paths: short symlinks in the link dir', () => {
    const lowers = longLowers(120);
    const p = overlayMountPlan({ lowers, ...steps }, 'overlay', false, '/tmp/step/l');
    expect(p.cwd).toBe('/tmp/step/l');
    expect(p.links[0]).toEqual(['0', lowers[0]]);
    expect(p.links[119]).toEqual(['3b', lowers[119]]);
    expect(p.options[0]).toBe(`lowerdir=${lowers.map((_, i) => i.toString(36)).join(':')}`);
    expect(() => overlayMountPlan({ lowers, ...steps }, 'overlay', false)).toThrow(/do not fit in one page/);
  });
});

describe('RootfsView: container paths without mounting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-view-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const upper = join(dir, 'upper');
  const lower = join(dir, 'lower');
  for (const d of [upper, join(lower, 'etc'), join(lower, 'usr', 'bin'), join(upper, 'usr')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(lower, 'etc', 'passwd'), 'lower\n');
  writeFileSync(join(lower, 'usr', 'bin', 'gone'), '');
  symlinkSync('../../../../../etc', join(lower, 'escape'));
  symlinkSync('/usr/bin', join(lower, 'bin'));
  // overlay whiteout of /usr/bin/gone is a 0:0 char device; AUFS-style marker as the stand-in here
  mkdirSync(join(upper, 'usr', 'bin'));
  writeFileSync(join(upper, 'usr', 'bin', '.wh.gone'), '');
  const view = new RootfsView([upper, lower]);

  it('reads files through the stack', () => {
    expect(view.readFile('/etc/passwd')).toBe('lower\n');
  });
  it('symlinks resolve inside the root, never to the host', () => {
    expect(view.resolve('/escape/passwd').path).toBe('/etc/passwd');
    expect(view.readFile('/escape/passwd')).toBe('lower\n');
    expect(view.resolve('/bin/x').path).toBe('/usr/bin/x');
  });
  it('whiteouts hide lower entries', () => {
    expect(view.find('/usr/bin/gone')).toBeUndefined();
  });
  it('ensureDir creates missing dirs in the upper layer only and reports them', () => {
    const r = view.ensureDir('/etc/app/conf', { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
    expect(r.created).toEqual(['/etc/app', '/etc/app/conf']);
    expect(view.find('/etc/app/conf')?.layer).toBe(0);
    expect(view.ensureDir('/etc').created).toEqual([]);
  });
  it('ensureFile creates a mount point file once', () => {
    expect(view.ensureFile('/etc/hosts').created).toEqual(['/etc/hosts']);
    expect(view.ensureFile('/etc/hosts').created).toEqual([]);
    expect(view.ensureFile('/etc/passwd').created).toEqual([]);
  });
});

describe('chroot mode command line', () => {
  it('drops capabilities to Docker\'s set, sets groups before the chroot and the uid after', () => {
    const t = { mount: '/bin/mount', env: '/usr/bin/env', setpriv: '/usr/bin/setpriv', unshare: '/usr/bin/unshare', hostname: undefined, ip: undefined, fuseOverlayfs: undefined };
    const line = chrootMain(t, { root: '/r', cwd: "/it's", env: ['A=1'], argv: ['sh', '-c', 'echo $A'], uid: 1000, gid: 1000, groups: [2000] });
    expect(line).toBe(
      `'/usr/bin/env' -i 'A=1' '/usr/bin/setpriv' --bounding-set=-all,${DEFAULT_CAPABILITIES.map((c) => '+' + c.slice(4).toLowerCase()).join(',')} --regid=1000 --groups=2000 -- ` +
        `'/usr/bin/unshare' --root='/r' --wd=${shq("/it's")} --setuid=1000 -- 'sh' '-c' 'echo $A'`,
    );
  });
});

describe('run-step --mount', () => {
  it.each([
    ['type=bind,source=/a,target=/b', { type: 'bind', source: '/a', target: '/b' }],
    ['type=bind,src=/a,dst=/b,rw', { type: 'bind', source: '/a', target: '/b', readonly: false }],
    ['type=cache,source=/c,target=/var/cache/apt', { type: 'cache', source: '/c', target: '/var/cache/apt' }],
    ['type=tmpfs,target=/t,size=1048576,ro', { type: 'tmpfs', target: '/t', readonly: true, size: 1048576 }],
  ])('%s', (text, want) => {
    expect(parseRunMount(text)).toEqual(want);
  });
  it.each(['type=volume,target=/x', 'type=bind,target=/x', 'type=tmpfs,target=rel'])('%s is a usage error', (text) => {
    expect(() => parseRunMount(text)).toThrow(/--mount/);
  });
});

describe('chroot mode fstab', () => {
  it('escapes fstab fields and lists the container mounts in order', async () => {
    const { containerFstab, fstabEscape } = await import('../../src/runtime/step-script.js');
    expect(fstabEscape('/a b\\c\td')).toBe('/a\\040b\\134c\\011d');
    const text = containerFstab({
      root: '/t/root', dev: '/t/dev', bindSys: true, singleIdMap: true,
      mounts: [{ kind: 'bind', source: '/host dir', target: '/etc/hosts', readonly: false }, { kind: 'tmpfs', source: 'tmpfs', target: '/run', readonly: true, size: 1024 }],
    });
    const lines = text.trim().split('\n');
    expect(lines.slice(0, 4)).toEqual([
      'proc /t/root/proc proc nosuid,nodev,noexec 0 0',
      '/sys /t/root/sys none rbind,ro,nosuid,nodev,noexec 0 0',
      '/t/dev /t/root/dev none bind 0 0',
      '/dev/null /t/root/dev/null none bind 0 0',
    ]);
    expect(lines).toContain('devpts /t/root/dev/pts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,nofail 0 0');
    expect(lines).toContain('/host\\040dir /t/root/etc/hosts none rbind 0 0');
    expect(lines).toContain('tmpfs /t/root/run tmpfs ro,nosuid,nodev,mode=1777,size=1024 0 0');
    expect(lines.indexOf('/host\\040dir /t/root/etc/hosts none rbind 0 0')).toBeLessThan(lines.findIndex((l) => l.includes('/proc/sys')));
  });
});
