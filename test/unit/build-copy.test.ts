import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, chmodSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveCopy } from '../../src/build/copy/resolve.js';
import type { CopyRequest, SourceRoot } from '../../src/build/copy/resolve.js';
import type { FsView } from '../../src/build/copy/entries.js';
import { parseChmod } from '../../src/build/copy/chmod.js';
import { resolveChown } from '../../src/build/copy/chown.js';

let ctxDir: string;
beforeAll(() => {
  ctxDir = mkdtempSync(join(tmpdir(), 'slipway-copy-'));
  mkdirSync(join(ctxDir, 'src/lib'), { recursive: true });
  writeFileSync(join(ctxDir, 'a.txt'), 'a');
  writeFileSync(join(ctxDir, 'b.txt'), 'b');
  writeFileSync(join(ctxDir, 'src/main.js'), 'm');
  writeFileSync(join(ctxDir, 'src/lib/x.js'), 'x');
  writeFileSync(join(ctxDir, 'src/secret.env'), 's');
  writeFileSync(join(ctxDir, 'run.sh'), '#!/bin/sh');
  chmodSync(join(ctxDir, 'run.sh'), 0o755);
  symlinkSync('a.txt', join(ctxDir, 'link'));
  linkSync(join(ctxDir, 'src/lib/x.js'), join(ctxDir, 'src/lib/hard.js'));
});

const imageFs = (dirs: string[], files: Record<string, string> = {}): FsView => ({
  stat: async (p) => (dirs.includes(p) ? { type: 'dir', mode: 0o755, uid: 0, gid: 0 } : undefined),
  readFile: async (p) => (files[p] === undefined ? undefined : Buffer.from(files[p] as string)),
});

const root = (ignored?: (p: string) => boolean): SourceRoot => ({ dir: ctxDir, name: 'build context', context: true, ...(ignored ? { ignored } : {}) });
const req = (sources: string[], dest: string, more: Partial<CopyRequest> = {}): CopyRequest => ({ sources, dest, parents: false, exclude: [], now: 1000, where: 'Dockerfile:3', ...more });
const paths = async (r: CopyRequest, fs = imageFs(['/', '/app']), rt = root()) => (await resolveCopy(rt, r, fs)).map((e) => `${e.path}${e.type === 'dir' ? '/' : ''}`);

describe('COPY source resolution (docker rules)', () => {
  it.each<[string, CopyRequest, string[]]>([
    ['single file to a file name', req(['a.txt'], '/app/renamed'), ['app/renamed']],
    ['single file into a dir (trailing slash)', req(['a.txt'], '/app/'), ['app/a.txt']],
    ['single file into an existing dir without slash', req(['a.txt'], '/app'), ['app/a.txt']],
    ['several files make the dest a dir', req(['a.txt', 'b.txt'], '/out'), ['out/', 'out/a.txt', 'out/b.txt']],
    ['a directory copies its contents, not itself', req(['src'], '/app/'), ['app/lib/', 'app/lib/hard.js', 'app/lib/x.js', 'app/main.js', 'app/secret.env']],
    ['wildcards match within one segment', req(['*.txt'], '/app/'), ['app/a.txt', 'app/b.txt']],
    ['relative dest resolves against WORKDIR', req(['a.txt'], 'x/', { workdir: '/app' }), ['app/x/', 'app/x/a.txt']],
    ['dest "." is the workdir', req(['a.txt'], '.', { workdir: '/app' }), ['app/a.txt']],
    ['--exclude drops matching files', req(['src'], '/app/', { exclude: ['*.env', 'lib'] }), ['app/main.js']],
    ['--exclude "!" exceptions re-include (.dockerignore syntax)', req(['src'], '/app/', { exclude: ['*.env', '!secret.env', 'lib'] }), ['app/main.js', 'app/secret.env']],
    ['--exclude matches the path below the source (as BuildKit)', req(['src'], '/app/', { exclude: ['**/*.env', '!secret.env', 'lib'] }), ['app/main.js', 'app/secret.env']],
    ['--exclude: the last matching pattern wins', req(['src'], '/app/', { exclude: ['!secret.env', '*.env', 'lib'] }), ['app/main.js']],
    ['--exclude of a dir with an exception inside it', req(['src'], '/app/', { exclude: ['lib', '!lib/x.js'] }), ['app/lib/', 'app/lib/x.js', 'app/main.js', 'app/secret.env']],
    ['--exclude exceptions apply to wildcard matches', req(['*.txt'], '/app/', { exclude: ['*.txt', '!a.txt'] }), ['app/a.txt']],
    ['--parents keeps the source path', req(['src/lib/x.js', 'a.txt'], '/p/', { parents: true }), ['p/', 'p/a.txt', 'p/src/', 'p/src/lib/', 'p/src/lib/x.js']],
    ['--parents with a /./ pivot', req(['./src/./lib/x.js'], '/p/', { parents: true }), ['p/', 'p/lib/', 'p/lib/x.js']],
    ['.. cannot leave the context', req(['../../a.txt'], '/app/'), ['app/a.txt']],
    ['missing parent dirs are created', req(['a.txt'], '/new/deep/f'), ['new/', 'new/deep/', 'new/deep/f']],
  ])('%s', async (_n, r, want) => expect(await paths(r)).toEqual(want));

  it('context files are owned by root, keep their mode, symlinks stay links, hard links are linked', async () => {
    const es = await resolveCopy(root(), req(['run.sh', 'link', 'src'], '/d/'), imageFs(['/']));
    const by = Object.fromEntries(es.map((e) => [e.path, e]));
    expect(by['d/run.sh']).toMatchObject({ type: 'file', mode: 0o755, uid: 0, gid: 0, size: 9 });
    expect(by['d/link']).toMatchObject({ type: 'file' }); // a named source follows its symlink
    expect(by['d/lib/x.js']?.type === 'hardlink' || by['d/lib/hard.js']?.type === 'hardlink').toBe(true);
  });

  it('a named symlink source resolves inside the root: its target is read, never a host path', async () => {
    symlinkSync('/a.txt', join(ctxDir, 'abs-in'));
    symlinkSync('/etc/hostname', join(ctxDir, 'abs-out'));
    symlinkSync('src', join(ctxDir, 'srclink'));
    const es = await resolveCopy(root(), req(['link', 'abs-in'], '/d/'), imageFs(['/']));
    const by = Object.fromEntries(es.map((e) => [e.path, e]));
    expect(by['d/link']).toMatchObject({ type: 'file', source: join(ctxDir, 'a.txt') });
    expect(by['d/abs-in']).toMatchObject({ type: 'file', source: join(ctxDir, 'a.txt') });
    // /etc/hostname inside the context does not exist: a named dangling link is an error, as in BuildKit
    await expect(resolveCopy(root(), req(['abs-out'], '/d/'), imageFs(['/']))).rejects.toThrow('Dockerfile:3: COPY source "abs-out" is a symlink to "/etc/hostname", which does not exist in build context');
    expect(await paths(req(['srclink'], '/app/'))).toEqual(['app/lib/', 'app/lib/hard.js', 'app/lib/x.js', 'app/main.js', 'app/secret.env']);
  });

  it('a symlinked dir pointing out of the root never reads host files, named or by wildcard', async () => {
    symlinkSync('/etc', join(ctxDir, 'hostetc'));
    await expect(resolveCopy(root(), req(['hostetc/passwd'], '/d/'), imageFs(['/']))).rejects.toThrow(/COPY source "hostetc\/passwd" not found in build context/);
    expect(await paths(req(['hostetc/pass*'], '/d/'), imageFs(['/']))).toEqual([]);
    // the same link resolved inside the root works when the target exists there
    mkdirSync(join(ctxDir, 'etc'), { recursive: true });
    writeFileSync(join(ctxDir, 'etc', 'passwd'), 'in context\n');
    const es = await resolveCopy(root(), req(['hostetc/passwd', 'hostetc/pass*'], '/d/'), imageFs(['/']));
    expect(es.filter((e) => e.type === 'file').map((e) => e.source)).toEqual([join(ctxDir, 'etc', 'passwd')]);
  });

  it('symlinks inside a copied directory stay symlinks', async () => {
    const es = await resolveCopy({ ...root(), dir: ctxDir }, req(['.'], '/all/'), imageFs(['/']));
    expect(es.find((e) => e.path === 'all/link')).toMatchObject({ type: 'symlink', linkname: 'a.txt' });
  });

  it('--chown and --chmod apply to files and created dirs', async () => {
    const es = await resolveCopy(root(), req(['a.txt'], '/n/f', { owner: { uid: 5, gid: 6 }, chmod: parseChmod('0640', 'x') }), imageFs(['/']));
    expect(es.map((e) => [e.path, e.uid, e.gid, e.mode.toString(8)])).toEqual([['n', 5, 6, '755'], ['n/f', 5, 6, '640']]);
  });

  it('extra sources (downloads, heredocs) take --chown and --chmod and land by name in a dir dest', async () => {
    const es = await resolveCopy(root(), req([], '/etc/app/', { owner: { uid: 7, gid: 8 }, chmod: parseChmod('0640', 'x'), extra: [{ name: 'conf', entry: { type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: 1, size: 2, data: Buffer.from('hi') } }] }), imageFs(['/', '/etc']));
    expect(es.map((e) => [e.path, e.uid, e.gid, e.mode.toString(8)])).toEqual([['etc/app', 7, 8, '755'], ['etc/app/conf', 7, 8, '640']]);
  });

  it.each([
    [['nope.txt'], /Dockerfile:3: COPY source "nope.txt" not found in build context/],
    [['src/secret.env'], /Dockerfile:3: COPY source "src\/secret.env" is excluded by .dockerignore/],
  ])('%s fails with a located message', async (sources, msg) => {
    await expect(resolveCopy(root((p) => p.endsWith('.env')), req(sources, '/app/'), imageFs(['/']))).rejects.toThrow(msg);
  });

  it('.dockerignore hides files inside copied directories', async () => {
    expect(await paths(req(['src'], '/app/'), imageFs(['/', '/app']), root((p) => p.endsWith('.env')))).not.toContain('app/secret.env');
  });
});

describe('--chmod and --chown', () => {
  it.each([
    ['755', 0o644, false, 0o755],
    ['u+x', 0o644, false, 0o744],
    ['go-w', 0o666, false, 0o644],
    ['a=rX', 0o644, true, 0o555],
    ['a=rX', 0o644, false, 0o444],
    ['u=rwx,g=rx,o=', 0o777, false, 0o750],
    ['g=u', 0o740, false, 0o770],
  ])('%s on %o (dir %s) = %o', (spec, mode, dir, want) => expect(parseChmod(spec, 'x')(mode, dir)).toBe(want));
  it('refuses nonsense', () => expect(() => parseChmod('u+q', 'Dockerfile:4')).toThrow(/Dockerfile:4: invalid --chmod "u\+q"/));

  const fs = imageFs([], { '/etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n', '/etc/group': 'root:x:0:\nstaff:x:50:\n' });
  it.each([
    ['app', { uid: 1000, gid: 1001 }],
    ['app:staff', { uid: 1000, gid: 50 }],
    ['42', { uid: 42, gid: 42 }],
    ['42:7', { uid: 42, gid: 7 }],
  ])('--chown=%s', async (spec, want) => expect(await resolveChown(spec, fs, 'Dockerfile:2')).toEqual(want));
  it('unknown names are located errors', async () => {
    await expect(resolveChown('nobody', fs, 'Dockerfile:2')).rejects.toThrow(/Dockerfile:2: user "nobody" not found in the image's \/etc\/passwd/);
    await expect(resolveChown('app:wheel', fs, 'Dockerfile:2')).rejects.toThrow(/group "wheel"/);
  });
});
