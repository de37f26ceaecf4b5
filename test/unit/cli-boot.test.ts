import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDirs } from '../../src/oci/make-dirs.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { STALE_CACHE_MS, boot, cacheCommand, cliV8Flags, codeCacheDir, codeCacheName, findBundle, writeCodeCache } from '../../src/cli/boot.js';
import { readTrusted } from '../../src/startup.js';

const BOOT = pathToFileURL(join(REPO_ROOT, 'dist', 'cli', 'boot.js')).href;

/** A CommonJS stand-in for the esbuild bundle: says which entry ran, with a command table. */
const BUNDLE = `
exports.COMMANDS = [{ name: 'build' }, { name: 'pull' }];
exports.main = async function main(argv, io) { io.stdout.write('bundle ' + argv.join(' ') + ' ' + typeof require + ' ' + __filename.endsWith('.cjs') + '\\n'); return 3; };
`;
const PLAIN = `export async function main(argv, io) { io.stdout.write('plain ' + argv.join(' ') + '\\n'); return 4; }\n`;

describe('boot: which entry runs', () => {
  let dist: string;
  let cache: string;
  const run = async (...argv: string[]) => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    const atExit: (() => void)[] = [];
    const code = await boot(argv, { stdout, stderr: new PassThrough(), stdin: new PassThrough(), env: { XDG_CACHE_HOME: cache } }, { dist, atExit: (fn) => atExit.push(fn) });
    for (const fn of atExit) fn();
    return { code, out };
  };
  const bundleFile = () => join(dist, 'bundle', 'cli', 'slipway-AAAA1111.cjs');
  const cacheFiles = () => readdirSync(join(cache, 'slipway', 'code')).sort();

  beforeAll(() => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-boot-'));
    dist = join(root, 'dist');
    cache = join(root, 'cache');
    mkdirSync(join(dist, 'bundle', 'cli'), { recursive: true });
    mkdirSync(join(dist, 'cli'), { recursive: true });
    writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    writeFileSync(join(root, 'src', 'cli', 'boot.ts'), '// marks a source checkout\n');
    writeFileSync(bundleFile(), BUNDLE);
    writeFileSync(join(dist, 'cli', 'main.js'), PLAIN);
    utimesSync(join(dist, 'cli', 'main.js'), 1000, 1000);
  });
  afterAll(() => rmSync(join(dist, '..'), { recursive: true, force: true }));

  it('runs the bundle as CommonJS when it is at least as new as dist/cli, and caches its code per command', async () => {
    expect(await run('build', 'ctx')).toEqual({ code: 3, out: 'bundle build ctx function true\n' });
    const name = `slipway-AAAA1111-${process.version}-${process.arch}-build.v8`;
    expect(cacheFiles()).toEqual([name]);
    const file = join(cache, 'slipway', 'code', name);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const before = statSync(file).mtimeMs;
    expect(await run('build', 'ctx')).toEqual({ code: 3, out: 'bundle build ctx function true\n' });
    expect(statSync(file).mtimeMs, 'a valid cache is used, not rewritten').toBe(before);
  });

  it('writes no cache for a command the bundle does not know', async () => {
    expect((await run('bulid')).code).toBe(3);
    expect(cacheFiles().some((n) => n.endsWith('-bulid.v8'))).toBe(false);
    expect((await run('--help')).code).toBe(3);
    expect(cacheFiles().some((n) => n.endsWith('-main.v8'))).toBe(true);
  });

  // each case compiles a source this process has not compiled yet: V8's in-memory compilation cache would answer first otherwise
  it.each([
    ['V8 rejects (corrupt)', 0o600],
    ['others may write', 0o666],
  ])('replaces a cache %s, and still runs', async (_what, mode) => {
    writeFileSync(bundleFile(), `${BUNDLE}// ${mode}\n`);
    const file = join(cache, 'slipway', 'code', codeCacheName(bundleFile(), 'pull'));
    writeFileSync(file, Buffer.alloc(64, 7));
    chmodSync(file, mode);
    expect(await run('pull', 'x')).toEqual({ code: 3, out: 'bundle pull x function true\n' });
    expect(statSync(file).size).toBeGreaterThan(64);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('runs the plain modules when tsc rebuilt dist/cli after the bundle, or there is no bundle', async () => {
    utimesSync(join(dist, 'cli', 'main.js'), statSync(bundleFile()).mtimeMs / 1000 + 10, statSync(bundleFile()).mtimeMs / 1000 + 10);
    expect(await run('build', 'ctx')).toEqual({ code: 4, out: 'plain build ctx\n' });
    utimesSync(join(dist, 'cli', 'main.js'), 1000, 1000);
    rmSync(bundleFile());
    expect(await run('pull')).toEqual({ code: 4, out: 'plain pull\n' });
    writeFileSync(bundleFile(), BUNDLE);
    expect((await run('pull')).out).toBe('bundle pull function true\n');
  });

  it('runs the bundle with the same mtime as dist/cli', async () => {
    utimesSync(bundleFile(), 499162500, 499162500);
    utimesSync(join(dist, 'cli', 'main.js'), 499162500, 499162500);
    expect((await run('pull')).out).toBe('bundle pull function true\n');
  });

  it('an installed copy (no src/) runs the bundle even when npm extracted dist/cli after it', async () => {
    utimesSync(join(dist, 'cli', 'main.js'), statSync(bundleFile()).mtimeMs / 1000 + 10, statSync(bundleFile()).mtimeMs / 1000 + 10);
    expect((await run('pull')).out).toBe('plain pull\n');
    rmSync(join(dist, '..', 'src'), { recursive: true });
    expect((await run('pull')).out).toBe('bundle pull function true\n');
  });
});

describe('boot: the pieces', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-boot-parts-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [['build', '-t', 'x', '.'], 'build'],
    [['run-step', '--help'], 'run-step'],
    [['--help'], 'main'],
    [['--version'], 'main'],
    [['help'], 'main'],
    [['version'], 'main'],
    [[], 'main'],
    [['../../etc/x'], 'main'],
    [['Build'], 'main'],
  ])('argv %j is cached as %s (as root)', (argv, command) => {
    expect(cacheCommand(argv, {}, 0)).toBe(command);
  });

  it('a non-root build outside the user namespace (the re-exec parent) has its own cache; inside it is a plain build', () => {
    expect(cacheCommand(['build', '.'], {}, 1000)).toBe('build-outer');
    expect(cacheCommand(['build', '.'], { _SLIPWAY_USERNS: 'full' }, 1000)).toBe('build');
    expect(cacheCommand(['pull', 'x'], {}, 1000)).toBe('pull');
  });

  it('keeps the cache under $XDG_CACHE_HOME, else ~/.cache, else nowhere', () => {
    expect(codeCacheDir({ XDG_CACHE_HOME: '/c', HOME: '/h' })).toBe('/c/slipway/code');
    expect(codeCacheDir({ HOME: '/h' })).toBe('/h/.cache/slipway/code');
    expect(codeCacheDir({ XDG_CACHE_HOME: 'rel' })).toBeUndefined();
  });

  it('names a cache by bundle, Node version, architecture and command', () => {
    expect(codeCacheName('/x/dist/bundle/cli/slipway-Q2W3E4R5.cjs', 'pull')).toBe(`slipway-Q2W3E4R5-${process.version}-${process.arch}-pull.v8`);
  });

  it('finds the bundle, the newest of several', () => {
    const b = join(dir, 'b');
    mkdirSync(b);
    expect(findBundle(b)).toBeUndefined();
    expect(findBundle(join(dir, 'missing'))).toBeUndefined();
    writeFileSync(join(b, 'slipway-OLD00000.cjs'), '');
    writeFileSync(join(b, 'slipway-OLD00000.cjs.map'), '');
    expect(findBundle(b)).toBe(join(b, 'slipway-OLD00000.cjs'));
    writeFileSync(join(b, 'slipway-NEW00000.cjs'), '');
    utimesSync(join(b, 'slipway-OLD00000.cjs'), 1000, 1000);
    expect(findBundle(b)).toBe(join(b, 'slipway-NEW00000.cjs'));
  });

  it('trusts a cache file only when this uid owns it and nobody else may write it', () => {
    const f = join(dir, 'trust.v8');
    writeFileSync(f, 'abc', { mode: 0o600 });
    expect(readTrusted(f)?.toString()).toBe('abc');
    chmodSync(f, 0o620);
    expect(readTrusted(f)).toBeUndefined();
    chmodSync(f, 0o602);
    expect(readTrusted(f)).toBeUndefined();
    chmodSync(f, 0o644);
    expect(readTrusted(f)?.toString()).toBe('abc');
    expect(readTrusted(join(dir, 'none.v8'))).toBeUndefined();
  });

  it.each([
    ['pull', ['--liftoff-only', '--interrupt-budget=8388608']],
    ['push', ['--liftoff-only', '--interrupt-budget=8388608']],
    ['build', ['--liftoff-only']],
    ['build-outer', ['--liftoff-only']],
    ['images', ['--liftoff-only']],
    ['main', ['--liftoff-only']],
  ])('the V8 flags of a %s process are %j (transfer commands optimize late, builds as usual)', (command, flags) => {
    expect(cliV8Flags(command)).toEqual(flags);
  });

  it('compiles with the cached code V8 made for the same source', () => {
    const f = join(dir, 'slipway-CCCC0000.cjs');
    writeFileSync(f, BUNDLE);
    expect(existsSync(fileURLToPath(BOOT)), 'dist/ is built (npm run build)').toBe(true);
    // each step in a process of its own, which sets the CLI's flags as boot() does (a cache made
    // under other flags is rejected; this test process has run boot() for several commands, and
    // would answer from V8's in-memory compilation cache)
    const inChild = (code: string): string =>
      execFileSync(process.execPath, ['--input-type=module', '-e', `import { runBundle, applyCliV8Flags } from ${JSON.stringify(BOOT)}; import { readFileSync, writeFileSync } from 'node:fs'; applyCliV8Flags(); ${code}`], { encoding: 'utf8' });
    const cache = join(dir, 'c.v8');
    expect(inChild(`const r = runBundle(${JSON.stringify(f)}, undefined); writeFileSync(${JSON.stringify(cache)}, r.script.createCachedData()); process.stdout.write(r.exports.COMMANDS.map((c) => c.name).join(','));`)).toBe('build,pull');
    const rejected = () => inChild(`process.stdout.write(String(runBundle(${JSON.stringify(f)}, readFileSync(${JSON.stringify(cache)})).script.cachedDataRejected));`);
    expect(rejected()).toBe('false');
    writeFileSync(f, `${BUNDLE}\n// changed\n`);
    expect(rejected()).toBe('true');
  });

  it('makes nested dirs with the mode, and gives up under /proc instead of looping (Node\'s recursive mkdir does not end there)', () => {
    const d = join(dir, 'm', 'n', 'o');
    makeDirs(d, 0o700);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    makeDirs(d, 0o700);
    expect(() => makeDirs('/proc/slipway-none/slipway/code', 0o700)).toThrow(/ENOENT/);
    writeCodeCache('/proc/slipway-none/slipway/code', 'slipway-X-v-x-build.v8', Buffer.from('x'), '/d/slipway-X.cjs');
  });

  it('deletes the caches of other bundles once they are a day old, never its own', () => {
    const c = join(dir, 'code');
    const now = Date.now();
    writeCodeCache(c, 'slipway-OTHER000-v20-x64-build.v8', Buffer.from('o'), '/d/slipway-OTHER000.cjs');
    writeCodeCache(c, 'slipway-YOUNG000-v20-x64-build.v8', Buffer.from('y'), '/d/slipway-YOUNG000.cjs');
    writeCodeCache(c, 'slipway-MINE0000-v20-x64-pull.v8', Buffer.from('m'), '/d/slipway-MINE0000.cjs');
    const old = (now - STALE_CACHE_MS - 60_000) / 1000;
    utimesSync(join(c, 'slipway-OTHER000-v20-x64-build.v8'), old, old);
    utimesSync(join(c, 'slipway-MINE0000-v20-x64-pull.v8'), old, old);
    writeCodeCache(c, 'slipway-MINE0000-v20-x64-build.v8', Buffer.from('m2'), '/d/slipway-MINE0000.cjs', now);
    expect(readdirSync(c).sort()).toEqual(['slipway-MINE0000-v20-x64-build.v8', 'slipway-MINE0000-v20-x64-pull.v8', 'slipway-YOUNG000-v20-x64-build.v8']);
    expect(readFileSync(join(c, 'slipway-MINE0000-v20-x64-build.v8'), 'utf8')).toBe('m2');
  });
});
