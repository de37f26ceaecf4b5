import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RootfsView } from '../../src/runtime/rootfs-view.js';

describe('RootfsView: opaque dirs named per layer hide the layers below', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-view-opaque-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const [upper, mid, low] = ['upper', 'mid', 'low'].map((n) => join(dir, n)) as [string, string, string];
  mkdirSync(upper);
  for (const d of ['etc', 'data/sub']) mkdirSync(join(low, d), { recursive: true });
  writeFileSync(join(low, 'etc', 'passwd'), 'ghost:x:4242:4242::/:/bin/sh\n');
  writeFileSync(join(low, 'data', 'old.txt'), 'old\n');
  for (const d of ['etc', 'data']) mkdirSync(join(mid, d), { recursive: true });
  writeFileSync(join(mid, 'data', 'new.txt'), 'new\n');
  const layers = [upper, mid, low];
  const opaque = [undefined, new Set(['/etc', '/data']), undefined];

  const cases: { path: string; without: boolean; with: boolean }[] = [
    { path: '/etc/passwd', without: true, with: false },
    { path: '/data/old.txt', without: true, with: false },
    { path: '/data/sub', without: true, with: false },
    { path: '/data/new.txt', without: true, with: true },
    { path: '/data', without: true, with: true },
  ];
  for (const c of cases) {
    it(`${c.path}: ${c.with ? 'visible' : 'hidden'} with the opaque record, ${c.without ? 'visible' : 'hidden'} without`, () => {
      expect(new RootfsView(layers).find(c.path) !== undefined).toBe(c.without);
      expect(new RootfsView(layers, opaque).find(c.path) !== undefined).toBe(c.with);
    });
  }

  it('reads no file from below an opaque dir, and ensureDir creates what it hides', () => {
    const view = new RootfsView(layers, opaque);
    expect(view.readFile('/etc/passwd')).toBeUndefined();
    expect(view.ensureDir('/data/sub').created).toEqual(['/data/sub']);
    expect(view.find('/data/sub')?.layer).toBe(0);
  });

  it('an opaque root hides every lower entry', () => {
    expect(new RootfsView([upper, low], [new Set(['/'])]).find('/etc/passwd')).toBeUndefined();
  });
});

describe('RootfsView: lower dirs copied up to hold mount points are reported as mirrored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-view-mirror-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const [upper, low] = ['upper', 'low'].map((n) => join(dir, n)) as [string, string];
  mkdirSync(upper);
  mkdirSync(join(low, 'etc'), { recursive: true });
  mkdirSync(join(low, 'tmp'));
  chmodSync(join(low, 'etc'), 0o750);
  chmodSync(join(low, 'tmp'), 0o1777);
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

  it('ensureFile under a lower-only dir: the dir is mirrored (with its mode), the file created', () => {
    const r = new RootfsView([upper, low]).ensureFile('/etc/hosts');
    expect(r.created).toEqual(['/etc/hosts']);
    expect(r.mirrored).toEqual([{ path: '/etc', mode: 0o750, ...self }]);
    expect(lstatSync(join(upper, 'etc')).mode & 0o7777).toBe(0o750);
  });

  it('a sticky world-writable lower dir is mirrored as 1777 (not cut by the umask)', () => {
    const r = new RootfsView([upper, low]).ensureDir('/tmp/cache/x');
    expect(r.created).toEqual(['/tmp/cache', '/tmp/cache/x']);
    expect(r.mirrored).toEqual([{ path: '/tmp', mode: 0o1777, ...self }]);
    expect(lstatSync(join(upper, 'tmp')).mode & 0o7777).toBe(0o1777);
  });

  it('a dir already in the writable layer is neither created nor mirrored', () => {
    const r = new RootfsView([upper, low]).ensureFile('/etc/resolv.conf');
    expect(r).toMatchObject({ created: ['/etc/resolv.conf'], mirrored: [] });
  });
});
