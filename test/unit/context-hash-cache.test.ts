import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ContextHashCache, type HashCacheStat } from '../../src/context/hash-cache.js';

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;
/** A clock well after any file these tests write (the cache does not remember files changed just before it opened). */
const later = (): number => Date.now() + 10_000;

function statOf(root: string, path: string): HashCacheStat {
  const st = lstatSync(join(root, path));
  return { path, size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, dev: st.dev };
}

function fixture(files: Record<string, string>): { dir: string; ctx: string } {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-hash-cache-'));
  const ctx = mkdtempSync(join(tmpdir(), 'slipway-hash-ctx-'));
  for (const [p, c] of Object.entries(files)) writeFileSync(join(ctx, p), c);
  return { dir, ctx };
}

describe('ContextHashCache (persistent content-hash memo)', () => {
  it('gives back a digest after save and reopen while the stat data is the same', async () => {
    const { dir, ctx } = fixture({ a: 'one', b: 'two' });
    const c1 = ContextHashCache.open(dir, ctx, { now: later() });
    expect(c1.get(statOf(ctx, 'a'))).toBeUndefined();
    c1.set(statOf(ctx, 'a'), DIGEST_A);
    c1.set(statOf(ctx, 'b'), DIGEST_B);
    await c1.save();
    const c2 = ContextHashCache.open(dir, ctx, { now: later() });
    expect(c2.get(statOf(ctx, 'a'))).toBe(DIGEST_A);
    expect(c2.get(statOf(ctx, 'b'))).toBe(DIGEST_B);
    // another context with the same relative paths has its own file
    expect(ContextHashCache.open(dir, `${ctx}-other`, { now: later() }).get(statOf(ctx, 'a'))).toBeUndefined();
  });

  it.each([
    ['a same-size edit with the mtime set back to the nanosecond (ctime moves)', (ctx: string) => {
      execFileSync('touch', ['-r', join(ctx, 'a'), join(ctx, 'ref')]);
      writeFileSync(join(ctx, 'a'), 'ONE');
      execFileSync('touch', ['-r', join(ctx, 'ref'), join(ctx, 'a')]);
      expect(statSync(join(ctx, 'a'), { bigint: true }).mtimeNs).toBe(statSync(join(ctx, 'ref'), { bigint: true }).mtimeNs);
    }],
    ['touch -d to the old time after an edit', (ctx: string) => {
      const old = new Date(statSync(join(ctx, 'a')).mtimeMs).toISOString();
      writeFileSync(join(ctx, 'a'), 'onf');
      execFileSync('touch', ['-d', old, join(ctx, 'a')]);
    }],
    ['a size change', (ctx: string) => writeFileSync(join(ctx, 'a'), 'longer')],
    ['a mode change', (ctx: string) => execFileSync('chmod', ['600', join(ctx, 'a')])],
    ['a replaced file (new inode)', (ctx: string) => {
      writeFileSync(join(ctx, 'a.new'), 'one');
      execFileSync('mv', [join(ctx, 'a.new'), join(ctx, 'a')]);
    }],
  ])('forgets the digest after %s', async (_what, change) => {
    const { dir, ctx } = fixture({ a: 'one' });
    const c1 = ContextHashCache.open(dir, ctx, { now: later() });
    c1.set(statOf(ctx, 'a'), DIGEST_A);
    await c1.save();
    await new Promise((r) => setTimeout(r, 20)); // the change lands in a later timestamp tick
    change(ctx);
    expect(ContextHashCache.open(dir, ctx, { now: later() }).get(statOf(ctx, 'a'))).toBeUndefined();
  });

  it('does not remember a file changed just before the build started (same-tick writes would go unseen)', async () => {
    const { dir, ctx } = fixture({ a: 'one' });
    const c = ContextHashCache.open(dir, ctx); // opened now: `a` was written moments ago
    c.set(statOf(ctx, 'a'), DIGEST_A);
    expect(c.dirty).toBe(false);
    await c.save();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writes only when something changed', async () => {
    const { dir, ctx } = fixture({ a: 'one' });
    const c1 = ContextHashCache.open(dir, ctx, { now: later() });
    c1.set(statOf(ctx, 'a'), DIGEST_A);
    await c1.save();
    const file = join(dir, readdirSync(dir)[0] as string);
    const t = statSync(file).mtimeMs;
    const c2 = ContextHashCache.open(dir, ctx, { now: later() });
    expect(c2.get(statOf(ctx, 'a'))).toBe(DIGEST_A);
    expect(c2.dirty).toBe(false);
    await c2.save();
    expect(statSync(file).mtimeMs).toBe(t);
    // a hit on a later day refreshes the entry once (what keeps used entries from ageing out)
    const c3 = ContextHashCache.open(dir, ctx, { now: later() + 86_400_000 });
    expect(c3.get(statOf(ctx, 'a'))).toBe(DIGEST_A);
    expect(c3.dirty).toBe(true);
  });

  it('merges with what another build wrote meanwhile', async () => {
    const { dir, ctx } = fixture({ a: 'one', b: 'two' });
    const c1 = ContextHashCache.open(dir, ctx, { now: later() });
    const c2 = ContextHashCache.open(dir, ctx, { now: later() });
    c1.set(statOf(ctx, 'a'), DIGEST_A);
    c2.set(statOf(ctx, 'b'), DIGEST_B);
    // both opened before either wrote: the second write keeps the first one's entries
    await c1.save();
    await c2.save();
    const c3 = ContextHashCache.open(dir, ctx, { now: later() });
    expect(c3.get(statOf(ctx, 'a'))).toBe(DIGEST_A);
    expect(c3.get(statOf(ctx, 'b'))).toBe(DIGEST_B);
    expect(readdirSync(dir).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('stays bounded: least recently used entries, old entries and old contexts go', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 6; i++) files[`f${i}`] = String(i);
    const { dir, ctx } = fixture(files);
    const day = 86_400_000;
    const t0 = later();
    const c1 = ContextHashCache.open(dir, ctx, { now: t0, maxEntries: 4 });
    for (const i of [0, 1, 2]) c1.set(statOf(ctx, `f${i}`), DIGEST_A);
    await c1.save();
    const c2 = ContextHashCache.open(dir, ctx, { now: t0 + day, maxEntries: 4 });
    for (const i of [3, 4, 5]) c2.set(statOf(ctx, `f${i}`), DIGEST_B);
    await c2.save();
    const c3 = ContextHashCache.open(dir, ctx, { now: t0 + day });
    expect(c3.size).toBe(4);
    for (const i of [3, 4, 5]) expect(c3.get(statOf(ctx, `f${i}`))).toBe(DIGEST_B);
    // unused for more than maxAgeDays: dropped at the next write
    const c4 = ContextHashCache.open(dir, ctx, { now: t0 + 40 * day, maxAgeDays: 30 });
    c4.set(statOf(ctx, 'f0'), DIGEST_A);
    await c4.save();
    expect(ContextHashCache.open(dir, ctx, { now: t0 + 40 * day }).size).toBe(1);
    // at most maxContexts files: the least recently written goes
    for (const other of ['x', 'y']) {
      const c = ContextHashCache.open(dir, `${ctx}-${other}`, { now: t0 + 40 * day, maxContexts: 2 });
      c.set(statOf(ctx, 'f1'), DIGEST_A);
      await new Promise((r) => setTimeout(r, 20));
      await c.save();
    }
    expect(readdirSync(dir)).toHaveLength(2);
    expect(ContextHashCache.open(dir, ctx, { now: t0 + 40 * day }).size).toBe(0);
  });

  it('takes any file name, __proto__ included, and ignores a damaged file', async () => {
    const { dir, ctx } = fixture({ ['__proto__']: 'x', constructor: 'y' });
    const c1 = ContextHashCache.open(dir, ctx, { now: later() });
    c1.set(statOf(ctx, '__proto__'), DIGEST_A);
    expect(c1.get(statOf(ctx, 'constructor'))).toBeUndefined();
    await c1.save();
    expect(ContextHashCache.open(dir, ctx, { now: later() }).get(statOf(ctx, '__proto__'))).toBe(DIGEST_A);
    const file = join(dir, readdirSync(dir)[0] as string);
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 20));
    expect(ContextHashCache.open(dir, ctx, { now: later() }).size).toBe(0);
  });
});
