import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';

const ROOT = new URL('../fixtures/dockerfiles/', import.meta.url).pathname;
const OK = readdirSync(join(ROOT, 'ok')).sort();
const BAD = readdirSync(join(ROOT, 'bad')).filter((f) => f.endsWith('.Dockerfile')).sort();

interface PlanJson {
  stages: { index: number; name?: string; platform?: string; steps: { kind: string; instruction: string; cache: { key?: string; parts: { name: string; value: string }[] } }[] }[];
  target: number;
  levels: number[][];
  warnings: { code: string; message: string }[];
}

/** Runs `fn` over items with at most `n` at once. */
async function pool<T, R>(items: readonly T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  }));
  return out;
}

describe('slipway plan', () => {
  it(`plans every golden fixture (${OK.length}) with all cache keys resolved`, async () => {
    const results = await pool(OK, 4, (name) => slipway(['plan', '--platform', 'linux/amd64', join(ROOT, 'ok', name)]));
    results.forEach((r, i) => {
      expect(r.code, `${OK[i]}: ${r.stderr}`).toBe(0);
      const plan = JSON.parse(r.stdout) as PlanJson;
      expect(plan.stages.map((s) => s.index)).toContain(plan.target);
      for (const s of plan.stages) for (const st of s.steps) expect(st.cache.key, `${OK[i]}: ${st.instruction}`).toMatch(/^sha256:[0-9a-f]{64}$/);
    });
  }, 120_000);

  it('prints every error of a broken Dockerfile as Dockerfile:LINE: message and exits 1', async () => {
    const results = await pool(BAD, 4, (f) => slipway(['plan', '-f', join(ROOT, 'bad', f), join(ROOT, 'ok', 'minimal')]));
    results.forEach((r, i) => {
      const f = BAD[i] as string;
      const expected = readFileSync(join(ROOT, 'bad', f.replace(/\.Dockerfile$/, '.expected')), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      expect(r.code, f).toBe(1);
      const lines = r.stderr.split('\n').filter((l) => /^[^ ].*:\d+: /.test(l));
      const label = f; // -f names the file in messages by its base name
      expect(lines.map((l) => l.replace(label, 'Dockerfile'))).toHaveLength(expected.length);
      expected.forEach((e, j) => expect(lines[j]?.replace(label, 'Dockerfile')).toContain(e));
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });
  }, 120_000);

  it('honours --target, --build-arg and --platform', async () => {
    const r = await slipway(['plan', '--target', 'build', '--build-arg', 'UNUSED=1', '--platform', 'linux/arm64', join(ROOT, 'ok', 'from-platform-args')]);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as PlanJson;
    expect(plan.stages.map((s) => s.name)).toEqual(['build']);
    expect(plan.stages[0]?.steps[0]?.instruction).toBe('ARG TARGETOS=linux TARGETARCH=arm64');
    expect(plan.warnings.map((w) => w.code)).toContain('UnusedBuildArg');
  });

  it('reads the Dockerfile from stdin with -f -', async () => {
    const r = await slipway(['plan', '-f', '-', join(ROOT, 'ok', 'copy-flags')], { input: 'FROM alpine\nCOPY app.txt /\n' });
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as PlanJson;
    expect(plan.stages[0]?.steps[0]?.cache.parts.find((p) => p.name === 'sources')?.value).toMatch(/^sha256:/);
  });

  it('fails with a located message when a COPY source is missing from the context', async () => {
    const r = await slipway(['plan', '-f', '-', join(ROOT, 'ok', 'minimal')], { input: 'FROM alpine\nRUN true\nCOPY nothere.txt /\n' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Dockerfile:3: COPY source "nothere.txt" not found in build context');
  });

  it('rejects an unknown --target with exit 2 and the stage names', async () => {
    const r = await slipway(['plan', '--target', 'nope', join(ROOT, 'ok', 'multi-stage')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('target stage "nope" could not be found');
    expect(r.stderr).toContain('deps, build, test');
  });
});
