/** Stage dependency graph helpers (pure; stages are numbered 0..n-1). */

/** A cycle as a list of stage indexes (first repeated at the end), or undefined. */
export function findCycle(deps: readonly (readonly number[])[]): number[] | undefined {
  const state = new Array<number>(deps.length).fill(0); // 0 new, 1 on stack, 2 done
  const stack: number[] = [];
  const visit = (n: number): number[] | undefined => {
    state[n] = 1;
    stack.push(n);
    for (const d of deps[n] ?? []) {
      if (state[d] === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (state[d] === 0) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state[n] = 2;
    return undefined;
  };
  for (let i = 0; i < deps.length; i++) {
    if (state[i] === 0) {
      const c = visit(i);
      if (c) return c;
    }
  }
  return undefined;
}

/** Stages reachable from `target` (itself included). */
export function reachable(deps: readonly (readonly number[])[], target: number): Set<number> {
  const seen = new Set<number>();
  const todo = [target];
  while (todo.length > 0) {
    const n = todo.pop() as number;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const d of deps[n] ?? []) todo.push(d);
  }
  return seen;
}

/** Topological order of `nodes` (dependencies first; ties keep Dockerfile order). Assumes no cycle. */
export function topoOrder(deps: readonly (readonly number[])[], nodes: ReadonlySet<number>): number[] {
  const out: number[] = [];
  const done = new Set<number>();
  const visit = (n: number): void => {
    if (done.has(n)) return;
    done.add(n);
    for (const d of [...(deps[n] ?? [])].sort((a, b) => a - b)) if (nodes.has(d)) visit(d);
    out.push(n);
  };
  for (const n of [...nodes].sort((a, b) => a - b)) visit(n);
  return out;
}

/** Waves of stages that may run in parallel: a stage's wave is one more than its deepest dependency's. */
export function parallelLevels(deps: readonly (readonly number[])[], order: readonly number[]): number[][] {
  const level = new Map<number, number>();
  for (const n of order) {
    let l = 0;
    for (const d of deps[n] ?? []) if (level.has(d)) l = Math.max(l, (level.get(d) as number) + 1);
    level.set(n, l);
  }
  const out: number[][] = [];
  for (const n of order) {
    const l = level.get(n) as number;
    (out[l] ??= []).push(n);
  }
  return out.map((w) => w.sort((a, b) => a - b));
}
