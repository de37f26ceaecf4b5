import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recallMachineChoice, rememberMachineChoice } from '../../src/runtime/oci-runtime.js';
import { environmentKey, machineCacheFile } from '../../src/runtime/machine-cache.js';
import { findHostTool } from '../../src/runtime/host-tools.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-oci-choice-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(work, `c${n++}`, 'slipway', 'oci-runtime.json');

// a candidate that is installed here, or a made-up one (then only the refusals can be checked)
const installed = ['runc', 'crun'].map((name) => ({ name, path: findHostTool(name) })).find((c) => c.path !== undefined);
const choice = installed ? { name: installed.name, path: installed.path as string, reason: 'crun: cannot run here' } : { name: 'runc', path: '/nonexistent/runc', reason: 'x' };
const NOW = 1_800_000_000_000;

describe('the OCI runtime choice remembered per machine environment', () => {
  it('lives under $XDG_CACHE_HOME, else ~/.cache, else nowhere', () => {
    expect(machineCacheFile({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' }, 'oci-runtime')).toBe('/x/cache/slipway/oci-runtime.json');
    expect(machineCacheFile({ HOME: '/home/u' }, 'oci-runtime')).toBe('/home/u/.cache/slipway/oci-runtime.json');
    expect(machineCacheFile({ XDG_CACHE_HOME: 'relative', HOME: 'also-relative' }, 'oci-runtime')).toBeUndefined();
  });

  it('keys by the environment and the probed binaries: same inputs, same key; another binary, another key', () => {
    const k = environmentKey(['/bin/sh', undefined]);
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(environmentKey(['/bin/sh', undefined])).toBe(k);
    expect(environmentKey(['/bin/ls', undefined])).not.toBe(k);
    expect(environmentKey(['/bin/sh', '/bin/ls'])).not.toBe(k); // a candidate that got installed
    expect(environmentKey(['/bin/sh', '/nonexistent'])).toBe(k); // a missing program is a missing program
  });

  it.runIf(installed !== undefined)('recalls a choice for the same key within a day, with its original reason', () => {
    const f = file();
    rememberMachineChoice(f, 'k1', choice, NOW);
    expect(recallMachineChoice(f, 'k1', NOW + 3600_000)).toEqual(choice);
  });

  it.each([
    ['another environment key', (f: string) => recallMachineChoice(f, 'other', NOW + 1)],
    ['an entry older than a day', (f: string) => recallMachineChoice(f, 'k1', NOW + 25 * 3600_000)],
    ['an entry from the future (clock went back)', (f: string) => recallMachineChoice(f, 'k1', NOW - 1)],
    ['a cache file others may write', (f: string) => (chmodSync(f, 0o666), recallMachineChoice(f, 'k1', NOW + 1))],
    ['a file that is not JSON', (f: string) => (writeFileSync(f, 'nope'), recallMachineChoice(f, 'k1', NOW + 1))],
  ])('recalls nothing for %s', (_what, ask) => {
    const f = file();
    rememberMachineChoice(f, 'k1', choice, NOW);
    expect(ask(f)).toBeUndefined();
  });

  it('never recalls a path that is not the installed candidate of that name (the file names a program to run)', () => {
    const f = file();
    rememberMachineChoice(f, 'k1', { name: 'runc', path: '/tmp/evil/runc', reason: 'x' }, NOW);
    rememberMachineChoice(f, 'k2', { name: 'sh', path: '/bin/sh', reason: 'x' }, NOW);
    expect(recallMachineChoice(f, 'k1', NOW + 1)).toBeUndefined();
    expect(recallMachineChoice(f, 'k2', NOW + 1)).toBeUndefined();
  });

  it.runIf(installed !== undefined && process.getuid?.() === 0)('writes nothing into a cache dir another user owns (root with the caller\'s HOME)', () => {
    const f = file();
    const dir = join(f, '..', '..');
    mkdirSync(dir, { recursive: true });
    chownSync(dir, 4242, 4242);
    rememberMachineChoice(f, 'k1', choice, NOW);
    expect(existsSync(f)).toBe(false);
  });

  it.runIf(installed !== undefined)('drops stale entries when it writes', () => {
    const f = file();
    rememberMachineChoice(f, 'old', choice, NOW);
    rememberMachineChoice(f, 'new', choice, NOW + 25 * 3600_000);
    expect(Object.keys((JSON.parse(readFileSync(f, 'utf8')) as { entries: object }).entries)).toEqual(['new']);
  });
});
