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
        expect(['index.ts', 'startup.ts'], `${rel} imports ${imp}: cli/ uses the public API in src/index.ts (and its light part src/startup.ts) only`).toContain(to);
        continue;
      }
      expect(RANK[to] ?? 99, `${rel} (${from}) imports ${imp} (${to}), which is not below it`).toBeLessThanOrEqual(rank as number);
    }
  });
});

describe('the light entry src/startup.ts', () => {
  /** Every source file src/<rel> reaches through static imports. */
  function closure(rel: string, seen = new Set<string>()): Set<string> {
    if (seen.has(rel)) return seen;
    seen.add(rel);
    const text = readFileSync(join(REPO_ROOT, 'src', rel), 'utf8');
    for (const m of text.matchAll(/^(?:import|export)\s(?!type\b)[^;]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
      closure(relative(join(REPO_ROOT, 'src'), join(REPO_ROOT, 'src', rel, '..', m[1] as string)).replace(/\.js$/, '.ts'), seen);
    }
    return seen;
  }
  it('loads none of the heavy modules, so a rootless build re-execs from a small process', () => {
    const reached = [...closure('startup.ts'), ...closure(join('cli', 'main.ts'))];
    expect(reached).toContain(join('runtime', 'userns.ts'));
    const heavy = reached.filter((f) => /^(store|dockerfile|context|plan|snapshot|build)\//.test(f.split(sep).join('/')) || f === 'index.ts' || f.endsWith(join('cli', 'commands', 'index.ts')));
    expect(heavy).toEqual([]);
  });
});
