import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';

/**
 * DESIGN.md: imports point down the list only.
 * cli -> (index, startup) -> build -> plan/runtime/snapshot -> context/dockerfile -> image/store -> oci.
 * Rank: a module may import modules of lower or equal rank only (same folder is always fine).
 */
const RANK: Record<string, number> = {
  oci: 0,
  image: 1,
  store: 2,
  dockerfile: 3,
  context: 3,
  plan: 4,
  snapshot: 4,
  runtime: 4,
  build: 5,
  'index.ts': 6,
  /** The light part of the public API (errors, rootless re-exec): the CLI loads it before index.ts. */
  'startup.ts': 6,
  /** The image-moving part of the public API (oci, store): what pull, push, inspect, login and logout load. */
  'transfer.ts': 6,
  cli: 7,
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(srcRel: string): string {
  const first = srcRel.split(sep)[0] as string;
  return first;
}

describe('module boundaries', () => {
  const src = join(REPO_ROOT, 'src');
  const all = files(src);
  it('finds the sources', () => {
    expect(all.length).toBeGreaterThan(5);
  });
  it.each(all.map((f) => [relative(src, f)]))('%s imports only lower layers', (rel) => {
    const from = layerOf(rel);
    const rank = RANK[from];
    expect(rank, `unknown top-level module ${from}: add it to RANK`).toBeDefined();
    const text = readFileSync(join(src, rel), 'utf8');
    // static imports and dynamic import('...') alike
    const imports = [...text.matchAll(/(?:from\s+|import\()'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] as string);
    for (const imp of imports) {
      const target = relative(src, join(src, rel, '..', imp));
      const to = layerOf(target.replace(/\.js$/, '.ts'));
      if (to === from) continue;
      if (from === 'cli') {
        expect(['index.ts', 'startup.ts', 'transfer.ts'], `${rel} imports ${imp}: cli/ uses the public API in src/index.ts (and its light parts src/startup.ts and src/transfer.ts) only`).toContain(to);
        continue;
      }
      expect(RANK[to] ?? 99, `${rel} (${from}) imports ${imp} (${to}), which is not below it`).toBeLessThanOrEqual(rank as number);
    }
  });
});

describe('the light entry: what loads before a command runs', () => {
  const isHeavy = (f: string) => /^(store|dockerfile|context|plan|snapshot|build)\//.test(f.split(sep).join('/')) || f === 'index.ts';
  /** Every source file src/<rel> reaches through static imports, and through dynamic import() too when `dynamic`. */
  function closure(rel: string, dynamic = false, seen = new Set<string>()): Set<string> {
    if (seen.has(rel)) return seen;
    seen.add(rel);
    const text = readFileSync(join(REPO_ROOT, 'src', rel), 'utf8');
    const staticRe = /^(?:import|export)\s(?!type\b)[^;]*?from\s+'(\.{1,2}\/[^']+)'/gm;
    const targets = [...text.matchAll(staticRe)].map((m) => m[1] as string);
    if (dynamic) targets.push(...[...text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)].map((m) => m[1] as string));
    for (const t of targets) closure(relative(join(REPO_ROOT, 'src'), join(REPO_ROOT, 'src', rel, '..', t)).replace(/\.js$/, '.ts'), dynamic, seen);
    return seen;
  }
  it('the CLI entry (main.ts, the command table, startup.ts) statically loads none of the heavy modules and no command', () => {
    const reached = [...closure(join('cli', 'main.ts'))];
    expect(reached).toContain('startup.ts');
    expect(reached).toContain(join('cli', 'commands', 'index.ts'));
    expect(reached.filter(isHeavy)).toEqual([]);
    const commands = reached.filter((f) => f.startsWith(join('cli', 'commands') + sep) && f !== join('cli', 'commands', 'index.ts'));
    expect(commands, 'the command table names commands and import()s their modules, it never imports them statically').toEqual([]);
  });
  it('the command table reaches every command module through a dynamic import', () => {
    const table = closure(join('cli', 'commands', 'index.ts'), true);
    expect([...table].filter((f) => f.startsWith(join('cli', 'commands') + sep)).length).toBeGreaterThan(5);
    expect([...table].some(isHeavy), 'commands use the public API').toBe(true);
  });
  it('the rootless re-exec (startup.ts, with what it loads on demand) reaches userns and detection, no heavy module, so it runs from a small process', () => {
    const reached = [...closure('startup.ts', true)];
    expect(reached).toContain(join('runtime', 'userns.ts'));
    expect(reached).toContain(join('runtime', 'modes', 'detect.ts'));
    expect(reached.filter(isHeavy)).toEqual([]);
  });
});
