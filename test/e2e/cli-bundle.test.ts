import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { codeCacheName, findBundle } from '../../src/cli/boot.js';
import { REPO_ROOT, slipway } from '../helpers/cli.js';
import { pushTestImage, testImageLayout } from '../helpers/images.js';
import { TEST_HOME, ensureTestUser, installForTestUser, rootlessAvailable, runAsTestUser } from '../setup/rootless.js';

/**
 * The CLI as installed runs from the esbuild bundle (dist/bundle/cli) through V8's code
 * cache (src/cli/boot.ts). Every e2e test runs it that way; these check the bundle itself.
 */
describe('the CLI bundle', () => {
  const bundle = findBundle(join(REPO_ROOT, 'dist', 'bundle', 'cli'));
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  const codeCaches = () => readdirSync(join(tmp, 'cache', 'slipway', 'code')).filter((n) => n.endsWith('.v8'));

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'slipway-bundle-'));
    env = { XDG_CACHE_HOME: join(tmp, 'cache') };
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('is built, and not older than the tsc output (npm run build makes both)', () => {
    expect(bundle, 'dist/bundle/cli/slipway-*.cjs: run npm run build').toBeDefined();
    expect(statSync(bundle!).mtimeMs).toBeGreaterThanOrEqual(statSync(join(REPO_ROOT, 'dist', 'cli', 'main.js')).mtimeMs);
  });

  it('has no dynamic import() and no import.meta left (a code-cached script cannot import; CommonJS has no import.meta)', () => {
    // code only: bundled undici keeps JSDoc types such as {import('net').Socket} in comments
    const text = readFileSync(bundle!, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    expect(text.match(/(?<![\w$.])import\s*\(/g)).toBeNull();
    expect(text.match(/import\.meta/g)).toBeNull();
  });

  it('prints the version of package.json', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await slipway(['--version'], { env });
    expect(r).toMatchObject({ code: 0, stdout: `slipway ${pkg.version}\n` });
  });

  it('builds with a cold and then a warm code cache', async () => {
    const ctx = join(tmp, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a /a\nLABEL x=y\n');
    writeFileSync(join(ctx, 'a'), 'a\n');
    const args = ['build', '--root', join(tmp, 'store'), '-q', '-t', 'bundle:1', ctx];
    const cold = await slipway(args, { env });
    expect(cold.stderr).toBe('');
    expect(cold.code).toBe(0);
    expect(cold.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect(codeCaches().some((n) => n.endsWith('-build.v8'))).toBe(true);
    const warm = await slipway(args, { env });
    expect(warm.stderr).toBe('');
    expect(warm.code).toBe(0);
    expect(warm.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
  });

  it('runs every command\'s --help from the bundle, one code cache per command', async () => {
    for (const name of ['pull', 'push', 'images', 'info']) {
      const r = await slipway([name, '--help'], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: slipway ${name} `));
    }
    expect(codeCaches().filter((n) => /-(pull|push|images|info)\.v8$/.test(n))).toHaveLength(4);
  });

  it('a mistyped command is an error, and leaves no code cache behind', async () => {
    const r = await slipway(['bulid'], { env });
    expect(r.code).toBe(2);
    expect(codeCaches().some((n) => n.includes('bulid'))).toBe(false);
  });

  it('--debug stack traces name the TypeScript sources (source map)', async () => {
    const r = await slipway(['tag', '--debug', '--root', join(tmp, 'empty-store'), 'nothere:1', 'x:1'], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/src\/cli\/commands\/\S+\.ts:\d+/);
  });

  it('a pull from a plain-HTTP loopback registry loads none of tls, http2, child_process and worker_threads (each costs start-up time)', async () => {
    const registry = inject('registry');
    await pushTestImage(await testImageLayout(), registry, 'bundle/startup:1');
    const list = join(tmp, 'modules.txt');
    const preload = join(tmp, 'modules.cjs');
    writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));\n`);
    const r = await slipway(['pull', '-q', '--root', join(tmp, 'pull-store'), `${registry}/bundle/startup:1`], { env: { ...env, NODE_OPTIONS: `--require ${preload}` } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const builtins = readFileSync(list, 'utf8').split('\n').filter((l) => l.startsWith('NativeModule ')).map((l) => l.slice('NativeModule '.length));
    expect(builtins).toContain('http'); // undici's client did load: the list is the real one
    for (const m of ['tls', 'http2', 'child_process', 'worker_threads']) expect(builtins, m).not.toContain(m);
    // the next pull takes the code cache the first one wrote (same flags): it is not written again
    const cacheFile = join(tmp, 'cache', 'slipway', 'code', codeCacheName(bundle!, 'pull'));
    const written = statSync(cacheFile).mtimeMs;
    const again = await slipway(['pull', '-q', '--root', join(tmp, 'pull-store-2'), `${registry}/bundle/startup:1`], { env });
    expect(again.code).toBe(0);
    expect(statSync(cacheFile).mtimeMs).toBe(written);
  });

  it.skipIf(rootlessAvailable() !== null)('the npm-packed install runs its bundle with a code cache too (npm gives extracted files any mtime)', async () => {
    ensureTestUser();
    const bin = await installForTestUser();
    const installed = findBundle(join(bin, '..', '..', 'dist', 'bundle', 'cli'));
    expect(installed).toBeDefined();
    const cacheHome = `${TEST_HOME}/.cache-bundle-test`;
    rmSync(cacheHome, { recursive: true, force: true });
    const r = await runAsTestUser(['images', '--help'], { env: { XDG_CACHE_HOME: cacheHome } });
    expect(r.code).toBe(0);
    expect(readdirSync(join(cacheHome, 'slipway', 'code'))).toContain(codeCacheName(installed!, 'images'));
    rmSync(cacheHome, { recursive: true, force: true });
  });
});
