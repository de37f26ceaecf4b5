import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { makeContext, readLayout } from '../helpers/build-fixture.js';
import { testImageLayout } from '../helpers/images.js';

/** Every file below `dir` with its mtime: what a build wrote. */
function snapshot(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string): void => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, n.name);
      if (n.isDirectory()) walk(p);
      else out.set(p, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('slipway build: a fully cached rebuild', () => {
  let base: string;
  beforeAll(async () => {
    base = `oci:${await testImageLayout()}:busybox`;
  });

  const dockerfile = (label: string): string =>
    [`FROM ${base}`, 'LABEL first=1', 'RUN echo hi > /hi', 'ENV FOO=bar', 'COPY a.txt /a.txt', 'CMD ["sh"]', `LABEL version=${label}`].join('\n') + '\n';

  it('gives the same image, writes nothing to the store; a changed LABEL makes a new image and reuses the layers before it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-rebuild-root-'));
    const ctx = makeContext({ Dockerfile: dockerfile('1'), 'a.txt': 'a\n' });
    const build = (...extra: string[]) => slipway(['build', '--root', root, '--progress', 'plain', '--iidfile', join(root, 'iid'), '-t', 'rebuild:1', ...extra, ctx]);
    const first = await build();
    expect(first.code, first.stderr).toBe(0);
    const id1 = readFileSync(join(root, 'iid'), 'utf8');
    await sleep(1100); // a new build second: a fresh `created` would show
    const before = snapshot(join(root, 'oci'));
    const again = await build();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/CACHED/g)).toHaveLength(2); // RUN and COPY
    expect(readFileSync(join(root, 'iid'), 'utf8')).toBe(id1);
    // no blob, no index.json rewrite
    expect(snapshot(join(root, 'oci'))).toEqual(before);
    // --no-cache builds anew: new times, new image
    const fresh = await build('--no-cache');
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stderr).not.toMatch(/CACHED/);
    expect(readFileSync(join(root, 'iid'), 'utf8')).not.toBe(id1);
    const id2 = readFileSync(join(root, 'iid'), 'utf8');

    await sleep(1100);
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile('2'));
    const changed = await build('--output', `type=oci,dest=${join(root, 'out')}`);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr.match(/CACHED/g)).toHaveLength(2);
    expect(readFileSync(join(root, 'iid'), 'utf8')).not.toBe(id2);
    const img = (await readLayout(join(root, 'out'))).image;
    expect(img.config.config?.Labels).toEqual({ first: '1', version: '2' });
    const history = img.config.history ?? [];
    const mine = history.slice(-6);
    expect(mine.map((h) => h.created_by?.split(' ')[0])).toEqual(['LABEL', 'RUN', 'ENV', 'COPY', 'CMD', 'LABEL']);
    // the steps before the change keep the first build's time; the changed one and the image are new
    const firstTime = mine[0]?.created;
    expect(mine.slice(0, 5).every((h) => h.created === firstTime)).toBe(true);
    expect(Date.parse(mine[5]?.created ?? '')).toBeGreaterThan(Date.parse(firstTime ?? ''));
    expect(img.config.created).toBe(mine[5]?.created);
  });

  it('SOURCE_DATE_EPOCH sets every history time, never reuses layers built without it, and is cached under it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-rebuild-sde-'));
    const ctx = makeContext({ Dockerfile: dockerfile('1'), 'a.txt': 'a\n' });
    const plain = await slipway(['build', '--root', root, '-q', ctx]);
    expect(plain.code, plain.stderr).toBe(0);
    const out = join(root, 'out');
    const sdeBuild = (dest: string) =>
      slipway(['build', '--root', root, '--progress', 'plain', '--output', `type=oci,dest=${dest}`, ctx], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    const sde = await sdeBuild(out);
    expect(sde.code, sde.stderr).toBe(0);
    // the RUN and COPY layers of the build without it have unclamped times: not reused
    expect(sde.stderr).not.toMatch(/CACHED/);
    const img = (await readLayout(out)).image;
    expect(img.config.created).toBe('2023-11-14T22:13:20Z');
    const mine = (img.config.history ?? []).slice(-6);
    expect(mine.filter((h) => h.empty_layer === true)).toHaveLength(4);
    for (const h of mine) expect(h.created).toBe('2023-11-14T22:13:20Z');
    // the same epoch again: cached, same image
    const again = await sdeBuild(join(root, 'out2'));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.match(/CACHED/g)).toHaveLength(2);
    expect((await readLayout(join(root, 'out2'))).image.id).toBe(img.id);
  });

  it('re-reads a context file edited in place with its old mtime put back (the ctime moved)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-rebuild-memo-'));
    const ctx = makeContext({ Dockerfile: 'FROM scratch\nCOPY . /data/\n', 'd/a.txt': 'one\n', 'd/b.txt': 'two\n' });
    await sleep(300); // older than the memo's "changed just now" window, so the first build remembers them
    const first = await slipway(['build', '--root', root, '-q', ctx]);
    expect(first.code, first.stderr).toBe(0);
    const memoDir = join(root, 'cache', 'context-hashes');
    expect(readdirSync(memoDir)).toHaveLength(1);
    expect(readFileSync(join(memoDir, readdirSync(memoDir)[0] as string), 'utf8')).toContain('"d/a.txt"');
    // touching an unrelated file's times only: still cached, same image
    execFileSync('touch', [join(ctx, 'd/b.txt')]);
    const touched = await slipway(['build', '--root', root, '--progress', 'plain', '--iidfile', join(root, 'iid'), ctx]);
    expect(touched.stderr).toMatch(/CACHED/);
    expect(readFileSync(join(root, 'iid'), 'utf8')).toBe(first.stdout.trim());
    // same size, same mtime (to the nanosecond), other bytes
    execFileSync('touch', ['-r', join(ctx, 'd/a.txt'), join(root, 'ref')]);
    writeFileSync(join(ctx, 'd/a.txt'), 'ONE\n');
    execFileSync('touch', ['-r', join(root, 'ref'), join(ctx, 'd/a.txt')]);
    const out = join(root, 'out');
    const edited = await slipway(['build', '--root', root, '--progress', 'plain', '--output', `type=oci,dest=${out}`, ctx]);
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.stderr).not.toMatch(/CACHED/);
    expect((await readLayout(out)).file('data/d/a.txt')).toBe('ONE\n');
  });

  it('plans again when a base image moved under its tag (the remembered plan is checked against the bases)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-rebuild-plan-'));
    const layout = (greeting: string) => {
      const dir = join(root, `base-${greeting}`);
      return slipway(['build', '--root', join(root, 'base-store'), '-q', '-t', 'base:1', '--output', `type=oci,dest=${dir}`, makeContext({ Dockerfile: `FROM scratch\nENV GREETING=${greeting}\n` })]).then((r) => {
        expect(r.code, r.stderr).toBe(0);
        return dir;
      });
    };
    const [one, two] = await Promise.all([layout('one'), layout('two')]);
    const base = join(root, 'base');
    execFileSync('cp', ['-a', one, base]);
    const ctx = makeContext({ Dockerfile: `FROM oci:${base}:1\nLABEL greeting=$GREETING\n` });
    const labelOf = async (): Promise<string | undefined> => {
      const out = join(root, `out-${Math.random().toString(36).slice(2)}`);
      const r = await slipway(['build', '--root', join(root, 'store'), '-q', '--output', `type=oci,dest=${out}`, ctx]);
      expect(r.code, r.stderr).toBe(0);
      return (await readLayout(out)).image.config.config?.Labels?.greeting;
    };
    expect(await labelOf()).toBe('one');
    expect(readdirSync(join(root, 'store', 'cache', 'plans'))).toHaveLength(1);
    expect(await labelOf()).toBe('one');
    execFileSync('rm', ['-rf', base]);
    execFileSync('cp', ['-a', two, base]);
    expect(await labelOf()).toBe('two');
  });

  it('two builds sharing a store at once both succeed and leave caches the next build uses', async () => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-rebuild-shared-'));
    const files: Record<string, string> = { Dockerfile: 'FROM scratch\nCOPY . /data/\nLABEL shared=1\n' };
    for (let i = 0; i < 200; i++) files[`d${i % 10}/f${i}.txt`] = `file ${i}\n`;
    const ctx = makeContext(files);
    await sleep(300); // older than the memo's "changed just now" window
    const both = await Promise.all([0, 1].map((i) => slipway(['build', '--root', root, '--iidfile', join(root, `iid${i}`), '-q', ctx])));
    for (const r of both) expect(r.code, r.stderr).toBe(0);
    const ids = [0, 1].map((i) => readFileSync(join(root, `iid${i}`), 'utf8'));
    const memoDir = join(root, 'cache', 'context-hashes');
    const memo = JSON.parse(readFileSync(join(memoDir, readdirSync(memoDir)[0] as string), 'utf8')) as { e: Record<string, unknown> };
    expect(Object.keys(memo.e)).toHaveLength(201);
    const next = await slipway(['build', '--root', root, '--progress', 'plain', '--iidfile', join(root, 'iid'), ctx]);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/CACHED/);
    expect(ids).toContain(readFileSync(join(root, 'iid'), 'utf8'));
  });

  it('the image time is its own newest step, not a base entry from the future; FROM alone keeps the base time', async () => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-rebuild-future-'));
    const layout = join(root, 'base');
    const made = await slipway(['build', '--root', join(root, 'base-store'), '-q', '-t', 'base:1', '--output', `type=oci,dest=${layout}`, makeContext({ Dockerfile: 'FROM scratch\nENV A=1\n' })], { env: { SOURCE_DATE_EPOCH: '4102444800' } });
    expect(made.code, made.stderr).toBe(0);
    const createdOf = async (dockerfile: string): Promise<string | undefined> => {
      const out = join(root, `out-${Math.random().toString(36).slice(2)}`);
      const r = await slipway(['build', '--root', join(root, 'store'), '-q', '--output', `type=oci,dest=${out}`, makeContext({ Dockerfile: dockerfile })]);
      expect(r.code, r.stderr).toBe(0);
      return (await readLayout(out)).image.config.created;
    };
    const withStep = await createdOf(`FROM oci:${layout}:1\nLABEL x=1\n`);
    expect(Math.abs(Date.parse(withStep ?? '') - Date.now())).toBeLessThan(120_000);
    expect(await createdOf(`FROM oci:${layout}:1\n`)).toBe('2100-01-01T00:00:00Z');
  });
});
