import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';

/**
 * bin/slipway.js runs the esbuild bundle (dist/bundle/main.js) unless tsc wrote dist/cli
 * after it (a dev rebuild without the bundle step): then the plain modules. Checked on a
 * copy of bin/ with stub entries that say which one ran.
 */
describe('bin/slipway.js picks its entry', () => {
  let root: string;
  const stub = (which: string) => `export async function main(argv) { process.stdout.write('${which} ' + argv.join(' ') + '\\n'); return 3; }\n`;
  const setTimes = (rel: string, seconds: number) => utimesSync(join(root, rel), seconds, seconds);
  const runBin = (...args: string[]) => {
    try {
      execFileSync(process.execPath, [join(root, 'bin', 'slipway.js'), ...args], { encoding: 'utf8' });
      throw new Error('expected exit code 3');
    } catch (e) {
      const err = e as { status: number; stdout: string };
      expect(err.status).toBe(3);
      return err.stdout;
    }
  };

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'slipway-bin-'));
    for (const d of ['bin', 'dist/bundle', 'dist/cli']) mkdirSync(join(root, d), { recursive: true });
    copyFileSync(BIN, join(root, 'bin', 'slipway.js'));
    writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
    writeFileSync(join(root, 'dist/bundle/main.js'), stub('bundle'));
    writeFileSync(join(root, 'dist/cli/main.js'), stub('plain'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each([
    ['the bundle is newer', 'bundle', 2000, 1000],
    ['both have the same mtime (npm pack)', 'bundle', 499162500, 499162500],
    ['tsc rebuilt dist/cli after the bundle', 'plain', 1000, 2000],
  ] as const)('%s: runs the %s entry with the arguments and its exit code', (_what, expected, bundle, plain) => {
    setTimes('dist/bundle/main.js', bundle);
    setTimes('dist/cli/main.js', plain);
    expect(runBin('pull', '--help')).toBe(`${expected} pull --help\n`);
  });

  it('runs the plain modules when there is no bundle', () => {
    rmSync(join(root, 'dist/bundle/main.js'));
    expect(runBin('x')).toBe('plain x\n');
    writeFileSync(join(root, 'dist/bundle/main.js'), stub('bundle'));
  });
});
