import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildContext, ContextSourceError, cleanContextPath, resolveInRoot } from '../../src/context/index.js';

let dir: string;
let ctx: BuildContext;

async function tree(root: string, files: Record<string, string>): Promise<void> {
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(root, p, '..'), { recursive: true });
    await writeFile(join(root, p), content);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-ctx-'));
  await tree(join(dir, 'outside'), { 'secret.txt': 'outside secret\n' });
  const root = join(dir, 'ctx');
  await tree(root, {
    'app.txt': 'app\n',
    'src/main.go': 'package main\n',
    'src/util.go': 'package util\n',
    'src/README.md': '# readme\n',
    'src/sub/deep.go': 'package sub\n',
    'docs/a.md': 'a\n',
    'docs/keep.md': 'keep\n',
    'x.log': 'log\n',
    '.dockerignore': 'docs\n!docs/keep.md\n*.log\n',
    'alt.Dockerfile': 'FROM scratch\n',
    'alt.Dockerfile.dockerignore': 'src\n',
  });
  await chmod(join(root, 'app.txt'), 0o755);
  await symlink('/outside/secret.txt', join(root, 'abs-link'));
  await symlink('../../outside/secret.txt', join(root, 'rel-escape'));
  await symlink('src', join(root, 'src-link'));
  await symlink('app.txt', join(root, 'app-link'));
  ctx = await BuildContext.open(root);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('safe path resolution', () => {
  it.each([
    ['../x', 'x'],
    ['/etc/passwd', 'etc/passwd'],
    ['a/../../b', 'b'],
    ['./a//b/', 'a/b'],
    ['..', ''],
  ])('cleans %s to %s inside the context', (input, expected) => {
    expect(cleanContextPath(input)).toBe(expected);
  });

  it.each([
    ['abs-link', 'outside/secret.txt'],
    ['rel-escape', 'outside/secret.txt'],
    ['src-link/main.go', 'src/main.go'],
    ['../../src-link/../app.txt', 'app.txt'],
  ])('resolves symlink %s inside the root to %s', async (input, expected) => {
    expect(await resolveInRoot(ctx.root, input)).toBe(expected);
  });

  it('never reaches a file outside the context through a symlink', async () => {
    await expect(ctx.select('abs-link')).rejects.toThrow(ContextSourceError);
    // resolved inside the root, both point at outside/secret.txt, which the context does not have
    await expect(ctx.select('rel-escape')).rejects.toThrow('COPY source "rel-escape" is a symlink to "../../outside/secret.txt", which does not exist in build context');
    expect(await ctx.resolve('abs-link')).toBe(join(ctx.root, 'outside', 'secret.txt'));
  });
});

describe('COPY source selection', () => {
  it('selects a file, following a symlink at the top', async () => {
    const [m] = await ctx.select('app-link');
    expect(m?.type).toBe('file');
    expect(m?.entries.map((e) => [e.rel, e.type, e.mode.toString(8)])).toEqual([['', 'file', '755']]);
    expect(await text(ctx.open(m?.entries[0] as never))).toBe('app\n');
  });

  it('brings a directory with its contents, sorted', async () => {
    const [m] = await ctx.select('src');
    expect(m?.entries.map((e) => e.rel)).toEqual(['', 'README.md', 'main.go', 'sub', 'sub/deep.go', 'util.go']);
  });

  it('matches wildcards within one path component', async () => {
    expect((await ctx.select('src/*.go')).map((m) => m.path)).toEqual(['src/main.go', 'src/util.go']);
    expect((await ctx.select('*/*.go')).map((m) => m.path)).toEqual(['src/main.go', 'src/util.go', 'src-link/main.go', 'src-link/util.go']);
    expect((await ctx.select('src/?ain.go')).map((m) => m.path)).toEqual(['src/main.go']);
  });

  it('treats absolute and ../ sources as relative to the context root', async () => {
    expect((await ctx.select('/app.txt')).map((m) => m.path)).toEqual(['app.txt']);
    expect((await ctx.select('../../app.txt')).map((m) => m.path)).toEqual(['app.txt']);
  });

  it('applies .dockerignore, including ! exceptions', async () => {
    const [m] = await ctx.select('docs');
    expect(m?.entries.map((e) => e.rel)).toEqual(['', 'keep.md']);
    await expect(ctx.select('x.log')).rejects.toThrow('COPY source "x.log" is excluded by .dockerignore');
    expect(await ctx.select('*.log')).toEqual([]); // an empty wildcard selects nothing (BuildKit AllowEmptyWildcard)
    expect(ctx.isIgnored('docs/a.md')).toBe(true);
  });

  it('applies --exclude patterns', async () => {
    const [m] = await ctx.select('src', { exclude: ['*.md', 'sub'] });
    expect(m?.entries.map((e) => e.rel)).toEqual(['', 'main.go', 'util.go']);
  });

  it('walks the whole context minus ignored paths, with symlinks as links', async () => {
    const all = (await ctx.walk()).map((e) => `${e.path}:${e.type}${e.linkTarget ? `->${e.linkTarget}` : ''}`);
    expect(all).toContain('docs/keep.md:file');
    expect(all).toContain('abs-link:symlink->/outside/secret.txt');
    expect(all).not.toContain('docs/a.md:file');
    expect(all).not.toContain('x.log:file');
  });

  it('prefers <Dockerfile>.dockerignore beside a named Dockerfile', async () => {
    const alt = await BuildContext.open(ctx.root, { dockerfile: join(ctx.root, 'alt.Dockerfile') });
    expect(alt.ignoreFile).toBe(join(ctx.root, 'alt.Dockerfile.dockerignore'));
    await expect(alt.select('src/main.go')).rejects.toThrow(ContextSourceError);
    expect((await alt.select('x.log')).length).toBe(1);
  });
});

describe('content hashes', () => {
  it('depend on contents, modes and names, never on mtimes or the host path', async () => {
    const sel = { sources: ['src', 'app.txt'], exclude: [], parents: false };
    const h1 = await ctx.hashSelection(sel);
    expect(h1).toMatch(/^sha256:[0-9a-f]{64}$/);
    const copy = join(dir, 'copy');
    await tree(copy, { 'app.txt': 'app\n', 'src/main.go': 'package main\n', 'src/util.go': 'package util\n', 'src/README.md': '# readme\n', 'src/sub/deep.go': 'package sub\n' });
    await chmod(join(copy, 'app.txt'), 0o755);
    const other = await BuildContext.open(copy);
    expect(await other.hashSelection(sel)).toBe(h1);
    await chmod(join(copy, 'app.txt'), 0o644);
    const other2 = await BuildContext.open(copy);
    expect(await other2.hashSelection(sel)).not.toBe(h1);
    await writeFile(join(copy, 'src/util.go'), 'package changed\n');
    const other3 = await BuildContext.open(copy);
    expect(await other3.hashSelection({ sources: ['src'], exclude: [], parents: false })).not.toBe(await ctx.hashSelection({ sources: ['src'], exclude: [], parents: false }));
  });

  it('change with --exclude and with the selected sources', async () => {
    const a = await ctx.hashSelection({ sources: ['src'], exclude: [], parents: false });
    const b = await ctx.hashSelection({ sources: ['src'], exclude: ['*.md'], parents: false });
    expect(a).not.toBe(b);
  });

  it('fail for a source that does not exist', async () => {
    await expect(ctx.hashSelection({ sources: ['missing.txt'], exclude: [], parents: false })).rejects.toThrow('COPY source "missing.txt" not found in build context');
  });
});
