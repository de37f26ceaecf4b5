import { describe, expect, it } from 'vitest';
import { DockerfileErrors, parseDockerfile } from '../../src/dockerfile/index.js';
import { findCycle, parallelLevels, reachable, topoOrder } from '../../src/plan/graph.js';
import { UnknownTargetError, createPlan, resolveCacheKeys, type Plan, type PlanOptions } from '../../src/plan/index.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const plan = (text: string, opts: PlanOptions = {}): Plan => createPlan(parseDockerfile(text), { buildPlatform: AMD64, ...opts });

const DIAMOND = `FROM alpine AS base
RUN echo base
FROM base AS left
RUN echo left
FROM base AS right
RUN echo right
FROM alpine AS unrelated
RUN echo unrelated
FROM alpine AS final
COPY --from=left /l /l
RUN --mount=type=bind,from=right,target=/r cat /r
`;

describe('stage DAG', () => {
  it('builds the last stage by default and keeps only the stages it needs', () => {
    const p = plan(DIAMOND);
    expect(p.target).toBe(4);
    expect(p.stages.map((s) => s.name)).toEqual(['base', 'left', 'right', 'final']);
  });

  it('records FROM <stage>, COPY --from and RUN --mount from= as dependencies', () => {
    const p = plan(DIAMOND);
    expect(Object.fromEntries(p.stages.map((s) => [s.name, s.dependsOn]))).toEqual({ base: [], left: [0], right: [0], final: [1, 2] });
    expect(p.stages[1]?.base).toEqual({ kind: 'stage', stage: 0 });
  });

  it('groups stages into parallel waves', () => {
    expect(plan(DIAMOND).levels).toEqual([[0], [1, 2], [4]]);
  });

  it('builds a named --target with only what it needs, case-insensitively', () => {
    const p = plan(DIAMOND, { target: 'LEFT' });
    expect(p.target).toBe(1);
    expect(p.stages.map((s) => s.index)).toEqual([0, 1]);
  });

  it('rejects an unknown --target with a suggestion', () => {
    expect(() => plan(DIAMOND, { target: 'rigth' })).toThrow(UnknownTargetError);
    expect(() => plan(DIAMOND, { target: 'rigth' })).toThrow('target stage "rigth" could not be found (did you mean right?)');
  });

  it('accepts a COPY --from that names a later stage and orders it first', () => {
    const p = plan('FROM a AS first\nCOPY --from=second /s /s\nFROM a AS second\nRUN x\n', { target: 'first' });
    expect(p.stages.map((s) => s.index)).toEqual([1, 0]);
    expect(p.levels).toEqual([[1], [0]]);
  });

  it('treats FROM of a later stage name, and unknown --from names, as images', () => {
    const p = plan('FROM later AS first\nCOPY --from=golang:1.22 /x /x\nFROM a AS later\n', { target: 'first' });
    expect(p.stages[0]?.base).toEqual({ kind: 'image', ref: 'later' });
    expect(p.stages[0]?.imageDeps).toEqual(['golang:1.22']);
  });

  it('reports a cycle at the stage where it starts', () => {
    try {
      plan('FROM a AS x\nCOPY --from=y /a /a\nFROM a AS y\nRUN --mount=from=x,target=/m true\n');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DockerfileErrors);
      expect((e as DockerfileErrors).errors[0]?.message).toBe('Dockerfile:1: circular dependency detected on stage: x (x -> y -> x)');
      expect((e as DockerfileErrors).errors[0]?.code).toBe('DOCKERFILE_STAGE');
    }
  });

  it('reports every bad stage reference, not only the first', () => {
    try {
      plan('FROM a\nCOPY --from=7 /a /a\nCOPY --from=8 /b /b\n');
      expect.unreachable();
    } catch (e) {
      expect((e as DockerfileErrors).errors.map((x) => x.message)).toEqual(['Dockerfile:2: invalid stage index 7', 'Dockerfile:3: invalid stage index 8']);
    }
  });
});

describe('graph helpers', () => {
  it('finds cycles and none in a DAG', () => {
    expect(findCycle([[1], [2], [0]])).toEqual([0, 1, 2, 0]);
    expect(findCycle([[], [0], [0, 1]])).toBeUndefined();
  });

  it('orders dependencies first and levels them', () => {
    const deps = [[], [0], [0], [], [1, 2]];
    const need = reachable(deps, 4);
    expect([...need].sort()).toEqual([0, 1, 2, 4]);
    const order = topoOrder(deps, need);
    expect(order).toEqual([0, 1, 2, 4]);
    expect(parallelLevels(deps, order)).toEqual([[0], [1, 2], [4]]);
  });
});

describe('cache keys', () => {
  const text = 'FROM alpine\nRUN echo one\nCOPY app.txt /app/\nRUN echo two\nFROM alpine\nCOPY --from=0 /app /app\n';

  it('are stable, and change from the changed step on', () => {
    const a = plan(text.replace('COPY app.txt /app/\n', ''));
    const b = plan(text.replace('COPY app.txt /app/\n', ''));
    expect(a.stages[0]?.steps.map((s) => s.cache.key)).toEqual(b.stages[0]?.steps.map((s) => s.cache.key));
    const c = plan(text.replace('COPY app.txt /app/\n', '').replace('echo two', 'echo 2'));
    expect(c.stages[0]?.steps[0]?.cache.key).toBe(a.stages[0]?.steps[0]?.cache.key);
    expect(c.stages[0]?.steps[1]?.cache.key).not.toBe(a.stages[0]?.steps[1]?.cache.key);
  });

  it('stay pending after a context COPY until resolveCacheKeys hashes the sources', async () => {
    const p = plan(text);
    const steps = p.stages[0]?.steps ?? [];
    expect(steps[0]?.cache.key).toBeDefined();
    expect(steps[1]?.cache.key).toBeUndefined();
    expect(steps[1]?.cache.parts.find((x) => x.name === 'sources')?.context).toEqual({ sources: ['app.txt'], exclude: [], parents: false });
    expect(p.stages[1]?.steps[0]?.cache.key).toBeUndefined();
    const seen: string[][] = [];
    const r1 = await resolveCacheKeys(p, async (sel) => (seen.push(sel.sources), 'sha256:' + '1'.repeat(64)));
    const r2 = await resolveCacheKeys(p, async () => 'sha256:' + '2'.repeat(64));
    expect(seen).toEqual([['app.txt']]);
    const keys = (x: Plan) => x.stages.flatMap((s) => s.steps.map((st) => st.cache.key));
    expect(keys(r1).every((k) => k !== undefined)).toBe(true);
    expect(keys(r1)[0]).toBe(keys(r2)[0]);
    expect(keys(r1)[1]).not.toBe(keys(r2)[1]);
    expect(keys(r1)[3]).not.toBe(keys(r2)[3]);
    expect(p.stages[0]?.steps[1]?.cache.key).toBeUndefined();
  });

  it('include the base image digest and apply its env, workdir and ONBUILD triggers', () => {
    const t = 'FROM base\nWORKDIR sub\nLABEL p=$GOPATH\n';
    const bare = plan(t);
    const info = plan(t, { baseImage: (ref) => (ref === 'base' ? { digest: 'sha256:' + 'c'.repeat(64), env: ['GOPATH=/go'], workingDir: '/w', onBuild: ['RUN echo from-base'] } : undefined) });
    expect(bare.stages[0]?.baseKey.key).not.toBe(info.stages[0]?.baseKey.key);
    const steps = info.stages[0]?.steps ?? [];
    expect(steps[0]).toMatchObject({ kind: 'run', onbuild: true, args: ['echo from-base'] });
    expect(steps[1]).toMatchObject({ kind: 'workdir', path: '/w/sub' });
    expect(steps[2]).toMatchObject({ change: { op: 'label', pairs: [['p', '/go']] } });
    expect(bare.stages[0]?.steps[0]).toMatchObject({ kind: 'workdir', path: '/sub', relativeToBase: 'sub' });
  });

  it('make a RUN secret mount contribute only its id and target', () => {
    const p = plan('FROM a\nRUN --mount=type=secret,id=tok,target=/t cat /t\n');
    const parts = p.stages[0]?.steps[0]?.cache.parts ?? [];
    expect(parts.find((x) => x.name === 'mount0')?.value).toBe('secret target=/t id=tok ro');
  });
});
