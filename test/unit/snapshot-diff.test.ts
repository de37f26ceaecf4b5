import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayer, diffOverlay, diffTrees, treeChanges } from '../../src/snapshot/index.js';
import { tarFixture } from '../helpers/tar-fixtures.js';
import { isRoot } from '../setup/tools.js';
import { normalizedTree } from '../helpers/tree-compare.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-diff-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A small "base image": every entry kind, owners, special bits, hard links. */
const BASE = tarFixture([
  { name: 'bin/' }, { name: 'bin/busybox', content: 'BB'.repeat(5000), mode: 0o755 },
  { name: 'bin/sh', type: 'hardlink', linkname: 'bin/busybox' },
  { name: 'bin/ls', type: 'symlink', linkname: 'busybox' },
  { name: 'etc/' }, { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
  { name: 'etc/shadow', content: 'root:*:1::::::\n', mode: 0o640, gid: 42 },
  { name: 'tmp/', mode: 0o1777 },
  { name: 'usr/' }, { name: 'usr/bin/' }, { name: 'usr/bin/passwd', content: 'pw', mode: 0o4755 },
  { name: 'var/' }, { name: 'var/cache/' }, { name: 'var/cache/apt/' }, { name: 'var/cache/apt/a.bin', content: 'cache' },
  { name: 'home/' }, { name: 'home/user/', uid: 1000, gid: 1000, mode: 0o750 }, { name: 'home/user/.profile', content: 'x', uid: 1000, gid: 1000 },
  { name: 'run/' }, { name: 'run/fifo', type: 'fifo' },
], { gzip: true });

async function unpack(dest: string, ...layers: Buffer[]): Promise<void> {
  mkdirSync(dest, { recursive: true });
  for (const l of layers) await applyLayer(Readable.from([l]), dest, { layer: 'sha256:base', mode: 'flatten' });
}

const base = join(work, 'base');
beforeAll(async () => {
  await unpack(base, BASE);
});

describe('round trip', () => {
  it('an unpacked image re-packed and unpacked again gives the same normalized tree', async () => {
    const empty = join(work, 'empty-rt');
    mkdirSync(empty);
    const r = (await diffTrees(empty, base))!;
    const again = join(work, 'rt');
    await unpack(again, readFileSync(r.path));
    expect(normalizedTree(again)).toEqual(normalizedTree(base));
    expect(statSync(join(again, 'bin/sh')).ino).toBe(statSync(join(again, 'bin/busybox')).ino);
    rmSync(r.path);
  });
});

describe('diffTrees', () => {
  it('finds additions, modifications (also same size and mtime), removals and type changes; applying the layer reproduces "after"', async () => {
    const before = join(work, 'b1');
    const after = join(work, 'a1');
    execFileSync('cp', ['-a', base, before]);
    execFileSync('cp', ['-a', base, after]);
    const since = Date.now();
    writeFileSync(join(after, 'etc/new.conf'), 'new');
    const st = statSync(join(after, 'etc/passwd'));
    writeFileSync(join(after, 'etc/passwd'), 'ROOT:x:0:0::/root:/bin/sh\n'); // same size
    utimesSync(join(after, 'etc/passwd'), st.atime, st.mtime); // same mtime
    rmSync(join(after, 'var/cache/apt'), { recursive: true });
    unlinkSync(join(after, 'bin/ls'));
    mkdirSync(join(after, 'bin/ls'));
    chmodSync(join(after, 'usr/bin/passwd'), 0o755);
    const changes = await treeChanges(before, after, { since });
    const summary = changes.map((c) => `${c.type} ${c.path}`).sort();
    expect(summary).toEqual([
      'dir bin', 'dir bin/ls', 'dir etc', 'dir usr', 'dir usr/bin', 'dir var', 'dir var/cache',
      'file etc/new.conf', 'file etc/passwd', 'file usr/bin/passwd', 'whiteout var/cache/apt',
    ]);
    const layer = (await diffTrees(before, after, { since }))!;
    await unpack(before, readFileSync(layer.path));
    expect(normalizedTree(before)).toEqual(normalizedTree(after));
    rmSync(layer.path);
  });

  it('returns no layer when nothing changed', async () => {
    const after = join(work, 'a2');
    execFileSync('cp', ['-a', base, after]);
    expect(await diffTrees(base, after, { since: Date.now() })).toBeUndefined();
  });
});

describe.runIf(isRoot)('diffOverlay on a real overlay mount', () => {
  it('translates overlay whiteouts and opaque dirs into OCI whiteouts; applying the layer gives the merged view', async () => {
    const lower = join(work, 'ovl-lower');
    mkdirSync(lower);
    await applyLayer(Readable.from([BASE]), lower, { layer: 'sha256:base', mode: 'overlay' });
    const [upper, wd, merged] = ['upper', 'work', 'merged'].map((d) => join(work, `ovl-${d}`)) as [string, string, string];
    for (const d of [upper, wd, merged]) mkdirSync(d);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${wd},redirect_dir=off,metacopy=off,index=off`, merged]);
    let expected: string[];
    try {
      execFileSync('sh', ['-c', [
        `cd ${merged}`, 'rm etc/shadow', 'rm -rf var/cache/apt', 'mkdir var/cache/apt', 'echo fresh > var/cache/apt/new',
        'echo more >> etc/passwd', 'mkdir -p opt/app && echo app > opt/app/run', 'ln bin/busybox opt/app/bb',
        'rm -rf home/user && mkdir home/user && echo recreated > home/user/only', 'setfattr -n user.note -v hello etc/passwd',
      ].join(' && ')]);
      expected = normalizedTree(merged);
    } finally {
      execFileSync('umount', [merged]);
    }
    const layer = (await diffOverlay(upper, { compression: 'gzip' }))!;
    const names = execFileSync('tar', ['-tzf', layer.path], { encoding: 'utf8' }).split('\n');
    expect(names).toEqual(expect.arrayContaining(['etc/.wh.shadow', 'var/cache/apt/.wh..wh..opq', 'home/user/.wh..wh..opq', 'var/cache/apt/new']));
    expect(names.some((n) => n.includes('overlay'))).toBe(false);
    const xattrs = execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-tvvzf', layer.path], { encoding: 'utf8' });
    expect(xattrs).toMatch(/etc\/passwd/);
    const flat = join(work, 'ovl-flat');
    await unpack(flat, BASE, readFileSync(layer.path));
    expect(normalizedTree(flat)).toEqual(expected);
    const got = execFileSync('getfattr', ['--absolute-names', '-n', 'user.note', join(flat, 'etc/passwd')], { encoding: 'utf8' });
    expect(got).toContain('hello');
    rmSync(layer.path);
  });
});
