import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/dockerfile/index.js';
import { createPlan } from '../../src/plan/index.js';
import { PlanCache, sameBases, type PlanInputs, type PlannedBase } from '../../src/build/plan-cache.js';

const OK = new URL('../fixtures/dockerfiles/ok/', import.meta.url).pathname;
const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };
const inputs: PlanInputs = { text: 'FROM scratch\nCOPY a /a\n', name: 'Dockerfile', targetPlatform: AMD64, buildPlatform: AMD64 };

describe('PlanCache (plans of earlier builds)', () => {
  it.each([
    ['the Dockerfile text', { text: 'FROM scratch\nCOPY b /a\n' }],
    ['the Dockerfile name (messages carry it)', { name: 'build/Dockerfile' }],
    ['the target', { target: 'app' }],
    ['the target platform', { targetPlatform: ARM64 }],
    ['the build platform', { buildPlatform: ARM64 }],
  ] as [string, Partial<PlanInputs>][])('keys change with %s', (_what, change) => {
    expect(PlanCache.key({ ...inputs, ...change })).not.toBe(PlanCache.key(inputs));
  });

  it('keys the same inputs the same way', () => {
    expect(PlanCache.key({ ...inputs })).toBe(PlanCache.key(inputs));
    expect(PlanCache.key(inputs)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives back every golden fixture plan as it was made', async () => {
    const cache = new PlanCache(mkdtempSync(join(tmpdir(), 'slipway-plans-')));
    for (const name of readdirSync(OK).sort()) {
      const text = readFileSync(join(OK, name, 'Dockerfile'), 'utf8');
      const plan = createPlan(parseDockerfile(text, { file: 'Dockerfile' }), { buildPlatform: AMD64, targetPlatform: AMD64 });
      const key = PlanCache.key({ ...inputs, text }) as string;
      const bases: PlannedBase[] = [{ ref: 'busybox:1', platform: 'linux/amd64', digest: `sha256:${'a'.repeat(64)}` }];
      await cache.put(key, { warnings: plan.warnings, bases, plan });
      expect(cache.get(key), name).toEqual({ warnings: plan.warnings, bases, plan });
    }
  });

  it('ignores a missing, damaged or foreign file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-plans-'));
    const cache = new PlanCache(dir);
    const key = PlanCache.key(inputs) as string;
    expect(cache.get(key)).toBeUndefined();
    const plan = createPlan(parseDockerfile(inputs.text, { file: 'Dockerfile' }), { targetPlatform: AMD64 });
    await cache.put(key, { warnings: [], bases: [], plan });
    const file = join(dir, `${key}.json`);
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, good.slice(0, good.length / 2));
    expect(cache.get(key)).toBeUndefined();
    // a file renamed to another key is not that key's plan
    const other = PlanCache.key({ ...inputs, target: 'x' }) as string;
    writeFileSync(join(dir, `${other}.json`), good);
    expect(cache.get(other)).toBeUndefined();
    writeFileSync(file, good.replace('"v":1', '"v":999'));
    expect(cache.get(key)).toBeUndefined();
  });

  it('keeps only the newest plans', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-plans-'));
    const cache = new PlanCache(dir, 2);
    const plan = createPlan(parseDockerfile(inputs.text, { file: 'Dockerfile' }), { targetPlatform: AMD64 });
    const keys = ['a', 'b', 'c'].map((t) => PlanCache.key({ ...inputs, text: `FROM scratch\nLABEL x=${t}\n` }) as string);
    for (const k of keys) {
      await cache.put(k, { warnings: [], bases: [], plan });
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(readdirSync(dir).sort()).toEqual(keys.slice(1).map((k) => `${k}.json`).sort());
  });

  const b = (ref: string, digest = 'sha256:1', platform = 'linux/amd64'): PlannedBase => ({ ref, platform, digest });
  it.each([
    [[], [], true],
    [[b('a'), b('b')], [b('a'), b('b')], true],
    [[b('a')], [b('a', 'sha256:2')], false],
    [[b('a')], [b('a', 'sha256:1', 'linux/arm64')], false],
    [[b('a')], [b('a'), b('b')], false],
    [[b('a'), b('b')], [b('b'), b('a')], false],
  ] as [PlannedBase[], PlannedBase[], boolean][])('sameBases(%j, %j) = %s', (x, y, want) => expect(sameBases(x, y)).toBe(want));
});
