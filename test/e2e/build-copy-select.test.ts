import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { buildToLayout, makeContext, readLayout } from '../helpers/build-fixture.js';

/**
 * The COPY cache key and the files the step copies come from one selection
 * (src/context/select.ts): what a build keys is what it copies, and `slipway plan`
 * shows the same key the build uses.
 */
let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'slipway-select-root-'));
});

const build = (ctx: string) => buildToLayout(root, ctx, ['--debug']);

/** `key sources:` lines of a --debug build, in step order. */
function sourceKeys(stderr: string): string[] {
  return [...stderr.matchAll(/key sources: (sha256:[0-9a-f]{64})/g)].map((m) => m[1] as string);
}

describe('slipway build: the COPY cache key and the copied files agree', () => {
  it('brace names are literal, [!a] is not a negation, an empty wildcard copies nothing; the key follows exactly those files', async () => {
    const ctx = makeContext({
      Dockerfile: 'FROM scratch\nCOPY {a,b}.txt [!a].txt d/ /out/\nCOPY *.nothing /none/\n',
      '{a,b}.txt': 'brace\n',
      'a.txt': 'a\n',
      'b.txt': 'b\n',
      '!.txt': 'bang\n',
      'd/x': 'x\n',
    });
    symlinkSync('missing', join(ctx, 'd', 'broken'));
    const first = await build(ctx);
    expect(first.code, first.stderr).toBe(0);
    const img = await readLayout(first.out);
    expect(img.file('out/{a,b}.txt')).toBe('brace\n');
    expect(img.file('out/!.txt')).toBe('bang\n');
    expect(img.file('out/x')).toBe('x\n');
    expect(img.stat('out/broken')).toMatchObject({ type: 'symlink', link: 'missing' });
    expect(img.file('out/a.txt')).toBe('a\n'); // [!a] is the class of "!" and "a" (Go has only [^...] negation)
    expect(img.stat('out/b.txt')).toBeUndefined(); // neither {a,b} nor [!a] selects b.txt
    expect(img.stat('none')).toBeUndefined();

    // `slipway plan` keys the step with the same selection and hash as the build
    const plan = await slipway(['plan', ctx]);
    expect(plan.code, plan.stderr).toBe(0);
    const planned = (JSON.parse(plan.stdout) as { stages: { steps: { cache: { parts: { name: string; value: string }[] } }[] }[] }).stages[0]?.steps.map((s) => s.cache.parts.find((p) => p.name === 'sources')?.value);
    expect(sourceKeys(first.stderr)).toEqual(planned);

    // a file the step does not copy leaves its key alone
    writeFileSync(join(ctx, 'b.txt'), 'b changed\n');
    const second = await build(ctx);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr.match(/CACHED/g)?.length).toBe(2);
    expect(sourceKeys(second.stderr)).toEqual([]);

    // a file it copies changes the key and the layer
    writeFileSync(join(ctx, '{a,b}.txt'), 'brace changed\n');
    const third = await build(ctx);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).not.toContain('CACHED');
    expect(sourceKeys(third.stderr)[0]).not.toBe(sourceKeys(first.stderr)[0]);
    expect((await readLayout(third.out)).file('out/{a,b}.txt')).toBe('brace changed\n');
  });

  it('a dangling symlink named as a source fails at its Dockerfile line', async () => {
    const ctx = makeContext({ Dockerfile: 'FROM scratch\nCOPY ok.txt /\nCOPY link /link\n', 'ok.txt': 'ok\n' });
    symlinkSync('nowhere', join(ctx, 'link'));
    const r = await build(ctx);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Error: Dockerfile:3: COPY source "link" is a symlink to "nowhere", which does not exist in build context/);
  });

  it('ADD of a context symlink to an archive outside the context never extracts the host file', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'slipway-outside-'));
    writeFileSync(join(outside, 'secret.txt'), 'host secret\n');
    execFileSync('tar', ['-cf', join(outside, 'host.tar'), '-C', outside, 'secret.txt']);
    const ctx = makeContext({ Dockerfile: 'FROM scratch\nADD host.tar /x/\n' });
    symlinkSync(join(outside, 'host.tar'), join(ctx, 'host.tar'));
    const r = await build(ctx);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Error: Dockerfile:2: COPY source "host.tar" is a symlink to "[^"]+host.tar", which does not exist in build context/);
  });
});
