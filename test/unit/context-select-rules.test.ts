import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildContext } from '../../src/context/index.js';
import { goMatcher as goMatcherForTest } from '../../src/context/wildcard.js';
import { resolveCopy, type SourceRoot } from '../../src/build/copy/resolve.js';
import type { FsView } from '../../src/build/copy/entries.js';

/**
 * The cases where the planner's selector (BuildContext.select, which keys a COPY) and
 * the step's resolver (resolveCopy, which writes the layer) used to disagree. Each row
 * runs through both and they must give the same files (or the same error).
 */
let dir: string;
let ctx: BuildContext;
let root: SourceRoot;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'slipway-select-rules-'));
  const files: Record<string, string> = {
    'a.txt': 'a', 'b.txt': 'b', '{a,b}.txt': 'brace', '!.txt': 'bang', '*.txt': 'star', '.hidden.txt': 'dot',
    'x+(a).txt': 'ext', 'd/x.txt': 'dx', 'd/e/x.txt': 'dex', 'keep/yes.md': 'y', 'keep/no.md': 'n', 'secret.env': 's',
  };
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  writeFileSync(join(dir, '.dockerignore'), '*.env\nkeep\n!keep/yes.md\n');
  symlinkSync('nowhere.txt', join(dir, 'dangling'));
  symlinkSync('a.txt', join(dir, 'good-link'));
  mkdirSync(join(dir, 'withlinks'));
  symlinkSync('../nowhere', join(dir, 'withlinks', 'broken'));
  writeFileSync(join(dir, 'withlinks', 'f'), 'f');
  ctx = await BuildContext.open(dir);
  root = { dir: ctx.root, name: 'build context', context: true, selector: ctx.selector };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EMPTY: FsView = { stat: async (p) => (p === '/' ? { type: 'dir', mode: 0o755, uid: 0, gid: 0 } : undefined), readFile: async () => undefined };

/** Files under the source as the planner sees them (`rel` of every entry, the matched name for single files). */
async function planned(source: string): Promise<string[]> {
  const out: string[] = [];
  for (const m of await ctx.select(source)) for (const e of m.entries) out.push(m.type === 'dir' ? (e.rel === '' ? '.' : e.rel) : basename(m.path));
  return out.sort();
}

/** Files the COPY step writes for `COPY <source> /out/` (paths below /out). */
async function copied(source: string): Promise<string[]> {
  const es = await resolveCopy(root, { sources: [source], dest: '/out/', parents: false, exclude: [], now: 0, where: 'Dockerfile:2' }, EMPTY);
  return es.map((e) => (e.path === 'out' ? '.' : e.path.replace(/^out\//, ''))).sort();
}

describe('one selector for the plan and the COPY step', () => {
  // [case, source, files selected (sorted) or an error]
  it.each<[string, string, string[] | RegExp]>([
    ['braces are literal characters, not alternatives', '{a,b}.txt', ['{a,b}.txt']],
    ['extended globs are literal characters', 'x+(a).txt', ['x+(a).txt']],
    ['a [!...] class holds "!" (Go has only [^...] negation)', '[!a].txt', ['!.txt', 'a.txt']],
    ['a [^...] class negates', '[^a!*{].txt', ['b.txt']],
    ['an escaped * is no wildcard: the name is taken as written', '\\*.txt', /COPY source "\\\*\.txt" not found in build context/],
    ['* matches dot files', '*.txt', ['!.txt', '*.txt', '.hidden.txt', 'a.txt', 'b.txt', 'x+(a).txt', '{a,b}.txt']],
    ['** is one path component, like * (d/x.txt, not d/e/x.txt)', '**/x.txt', ['x.txt']],
    ['a wildcard that matches nothing selects nothing', '*.nothing', []],
    ['a wildcard over .dockerignored files selects nothing', '*.env', []],
    ['a trailing slash names the same directory', 'd/', ['.', 'e', 'e/x.txt', 'x.txt']],
    ['a named symlink is followed inside the context', 'good-link', ['good-link']],
    ['symlinks inside a copied directory stay links, dangling or not', 'withlinks', ['.', 'broken', 'f']],
    ['an ignored directory keeps its "!" exceptions', 'keep', ['.', 'yes.md']],
    ['a missing source is an error', 'nope.txt', /COPY source "nope.txt" not found in build context/],
    ['a .dockerignored source is an error saying so', 'secret.env', /COPY source "secret.env" is excluded by .dockerignore/],
    ['a dangling symlink source is an error (BuildKit follows it)', 'dangling', /COPY source "dangling" is a symlink to "nowhere.txt", which does not exist in build context/],
    ['a wildcard matching a dangling symlink is an error too', 'dang*', /COPY source "dang\*" \(dangling\) is a symlink/],
    ['a malformed class is an error', 'a[.txt', /COPY source "a\[.txt" is not a valid pattern/],
  ])('%s', async (_name, source, want) => {
    if (want instanceof RegExp) {
      await expect(planned(source)).rejects.toThrow(want);
      await expect(copied(source)).rejects.toThrow(new RegExp(`Dockerfile:2: ${want.source}`));
      return;
    }
    expect(await planned(source)).toEqual(want);
    const wrote = await copied(source);
    // the step writes exactly the planned files (plus /out itself when a directory's contents land there)
    expect(wrote.filter((p) => p !== '.')).toEqual(want.filter((p) => p !== '.'));
  });

  it('** never crosses a "/"', async () => {
    expect((await ctx.select('**/x.txt')).map((m) => m.path)).toEqual(['d/x.txt']);
    expect((await ctx.select('*/*/x.txt')).map((m) => m.path)).toEqual(['d/e/x.txt']);
  });

  it('entries carry the stat data COPY needs (owner, times, inode)', async () => {
    const [m] = await ctx.select('a.txt');
    expect(m?.entries[0]).toMatchObject({ type: 'file', size: 1, uid: expect.any(Number), gid: expect.any(Number), mtimeMs: expect.any(Number), ino: expect.any(Number), nlink: 1 });
  });

  it('the cache key changes with the selected files only', async () => {
    const sel = (s: string) => ({ sources: [s], exclude: [], parents: false });
    const brace = await ctx.hashSelection(sel('{a,b}.txt'));
    const bang = await ctx.hashSelection(sel('[!a].txt'));
    writeFileSync(join(dir, 'a.txt'), 'a changed');
    const fresh = await BuildContext.open(dir);
    expect(await fresh.hashSelection(sel('{a,b}.txt'))).toBe(brace);
    expect(await fresh.hashSelection(sel('[!a].txt'))).not.toBe(bang);
    expect(await fresh.hashSelection(sel('*.nothing'))).toMatch(/^sha256:/);
  });

  it('a build keys a missing source by its error instead of failing (the step reports it, located)', async () => {
    const k = await ctx.hashSelection({ sources: ['nope.txt'], exclude: [], parents: false }, { recordErrors: true });
    expect(k).toMatch(/^sha256:/);
    expect(k).not.toBe(await ctx.hashSelection({ sources: ['nope2.txt'], exclude: [], parents: false }, { recordErrors: true }));
  });

  it('the COPY step writes the bytes the cache key hashed, even when the file changes in between', async () => {
    const c = await BuildContext.open(dir);
    const r: SourceRoot = { dir: c.root, name: 'build context', context: true, selector: c.selector };
    writeFileSync(join(dir, 'd', 'x.txt'), 'hashed');
    await c.hashSelection({ sources: ['d'], exclude: [], parents: false });
    writeFileSync(join(dir, 'd', 'x.txt'), 'written later');
    const es = await resolveCopy(r, { sources: ['d'], dest: '/out/', parents: false, exclude: [], now: 0, where: 'Dockerfile:2' }, EMPTY);
    const x = es.find((e) => e.path === 'out/x.txt');
    expect(x?.data?.toString()).toBe('hashed');
    expect(x?.source).toBeUndefined();
    // a root nobody hashed: the layer reads the file
    const plain = await resolveCopy({ dir: c.root, name: 'build context', context: true }, { sources: ['d'], dest: '/out/', parents: false, exclude: [], now: 0, where: 'Dockerfile:2' }, EMPTY);
    expect(plain.find((e) => e.path === 'out/x.txt')).toMatchObject({ source: join(c.root, 'd', 'x.txt') });
  });

  it('a file that grew after the walk is hashed whole and read again for the layer', async () => {
    writeFileSync(join(dir, 'grow.txt'), 'short');
    const c = await BuildContext.open(dir);
    await c.select('grow.txt'); // walked: size 5
    writeFileSync(join(dir, 'grow.txt'), 'short and then much longer');
    const sel = { sources: ['grow.txt'], exclude: [], parents: false };
    expect(await c.hashSelection(sel)).toBe(await (await BuildContext.open(dir)).hashSelection(sel));
    const [m] = await c.select('grow.txt');
    expect(m?.entries[0]?.content).toBeUndefined();
  });

  it('big files are hashed a few at a time, each digest right', async () => {
    mkdirSync(join(dir, 'big'));
    for (let i = 0; i < 3; i++) writeFileSync(join(dir, 'big', `f${i}`), Buffer.alloc((1 << 20) + 1000 * (i + 1), i + 1));
    const c = await BuildContext.open(dir);
    await c.hashSelection({ sources: ['big'], exclude: [], parents: false });
    const [m] = await c.select('big');
    for (const e of m?.entries.filter((x) => x.type === 'file') ?? []) {
      expect(await c.fileDigest(e)).toBe(`sha256:${createHash('sha256').update(readFileSync(e.hostPath)).digest('hex')}`);
    }
    rmSync(join(dir, 'big'), { recursive: true });
  });

  it('the COPY step reuses the walk the cache key made (same entry objects)', async () => {
    const a = await ctx.selector.select(['d']);
    const b = await ctx.selector.select(['d']);
    expect(b).toBe(a);
  });
});

describe('Go filepath.Match per component', () => {
  it.each<[string, string, boolean]>([
    ['*', '.x', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['[a-c]x', 'bx', true],
    ['[a-c]x', 'dx', false],
    ['[^a-c]x', 'dx', true],
    ['[\\]]', ']', true],
    ['\\[x\\]', '[x]', true],
    ['{a,b}', 'a', false],
    ['{a,b}', '{a,b}', true],
  ])('%s ~ %s = %s', (pattern, name, want) => expect(goMatcherForTest(pattern)(name)).toBe(want));

  it.each(['[', '[]', 'a\\', '[z-a]', '[-a]'])('%s is a bad pattern', (pattern) => expect(() => goMatcherForTest(pattern)).toThrow());
});
