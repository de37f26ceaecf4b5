import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/dockerfile/index.js';
import { createPlan, type ConfigStep, type Plan, type PlanOptions, type RunStep } from '../../src/plan/index.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };

function plan(text: string, opts: PlanOptions = {}): Plan {
  return createPlan(parseDockerfile(text), { buildPlatform: AMD64, ...opts });
}

/** Values of every `LABEL v=...` in the target stage, in order. */
function labels(p: Plan): string[] {
  const st = p.stages[p.stages.length - 1];
  return (st?.steps ?? []).flatMap((s) => (s.kind === 'config' && s.change.op === 'label' ? s.change.pairs.map(([, v]) => v) : []));
}

function runs(p: Plan): RunStep[] {
  return p.stages.flatMap((s) => s.steps.filter((x): x is RunStep => x.kind === 'run'));
}

describe('ARG scoping, case by case', () => {
  it.each([
    ['a global ARG is not visible in a stage unless redeclared', 'ARG G=1\nFROM a\nLABEL v="$G"\n', {}, ['']],
    ['a global ARG redeclared without value takes the global value', 'ARG G=1\nFROM a\nARG G\nLABEL v="$G"\n', {}, ['1']],
    ['--build-arg overrides a global default seen through redeclaration', 'ARG G=1\nFROM a\nARG G\nLABEL v="$G"\n', { G: '2' }, ['2']],
    ['a stage ARG starts at its declaration', 'FROM a\nLABEL v="$S"\nARG S=x\nLABEL v="$S"\n', {}, ['', 'x']],
    ['an ARG without value and no --build-arg is unset', 'FROM a\nARG U\nLABEL v="${U-unset}"\n', {}, ['unset']],
    ['an ARG without value takes --build-arg', 'FROM a\nARG U\nLABEL v="${U-unset}"\n', { U: 'given' }, ['given']],
    ['--build-arg overrides a stage default', 'FROM a\nARG D=default\nLABEL v=$D\n', { D: 'cli' }, ['cli']],
    ['ENV wins over an earlier ARG of the same name', 'FROM a\nARG V=arg\nENV V=env\nLABEL v=$V\n', { V: 'cli' }, ['env']],
    ['ENV wins over a later ARG of the same name', 'FROM a\nENV W=env\nARG W=arg\nLABEL v=$W\n', {}, ['env']],
    ['stage ARGs end with their stage', 'FROM a AS one\nARG S=1\nFROM b\nLABEL v="$S"\n', {}, ['']],
    ['a stage built FROM another stage inherits its ARGs (BuildKit)', 'FROM a AS one\nARG S=1\nFROM one\nLABEL v="$S"\n', {}, ['1']],
    ['global ARG defaults expand earlier global ARGs', 'ARG A=x\nARG B=${A}y\nFROM a\nARG B\nLABEL v=$B\n', {}, ['xy']],
    ['a stage ARG default expands the stage ENV', 'FROM a\nENV E=e\nARG X=$E-1\nLABEL v=$X\n', {}, ['e-1']],
    ['automatic platform ARGs need a declaration inside a stage', 'FROM a\nLABEL v="$TARGETARCH"\nARG TARGETARCH\nLABEL v="$TARGETARCH"\n', {}, ['', 'arm64']],
    ['--build-arg can override an automatic platform ARG', 'FROM a\nARG TARGETOS\nLABEL v=$TARGETOS\n', { TARGETOS: 'freebsd' }, ['freebsd']],
  ] as const)('%s', (_name, text, buildArgs, expected) => {
    expect(labels(plan(text, { buildArgs: { ...buildArgs }, targetPlatform: ARM64 }))).toEqual(expected);
  });

  it('expands FROM with global ARGs and --build-arg only', () => {
    const p = plan('ARG T=3.19\nARG IMG=alpine\nFROM $IMG:${T}\n', { buildArgs: { T: '3.20' } });
    expect(p.stages[0]?.base).toEqual({ kind: 'image', ref: 'alpine:3.20' });
  });

  it('gives FROM the automatic platform ARGs without a declaration', () => {
    const p = plan('FROM --platform=$BUILDPLATFORM a AS b\nFROM --platform=$TARGETPLATFORM a\nCOPY --from=b /x /x\n', { targetPlatform: ARM64 });
    expect(p.stages.map((s) => s.platform)).toEqual(['linux/amd64', 'linux/arm64/v8']);
  });

  it('sets every automatic platform ARG from the build and target platforms', () => {
    const names = ['BUILDPLATFORM', 'BUILDOS', 'BUILDARCH', 'BUILDVARIANT', 'TARGETPLATFORM', 'TARGETOS', 'TARGETARCH', 'TARGETVARIANT'];
    const text = `FROM a\nARG ${names.join(' ')}\n${names.map((n) => `LABEL v="$${n}"`).join('\n')}\n`;
    expect(labels(plan(text, { targetPlatform: ARM64 }))).toEqual(['linux/amd64', 'linux', 'amd64', '', 'linux/arm64/v8', 'linux', 'arm64', 'v8']);
  });

  it('gives RUN the visible ARGs as build-time env, apart from the image ENV', () => {
    const [run] = runs(plan('FROM a\nARG A=1\nENV E=2\nRUN true\n'));
    expect(run?.env.args).toEqual(['A=1']);
    expect(run?.env.env).toEqual(['E=2']);
  });

  it('passes predefined proxy ARGs to RUN without a declaration, outside history and cache keys', () => {
    const text = 'FROM a\nRUN true\n';
    const a = runs(plan(text, { buildArgs: { HTTP_PROXY: 'http://one:3128', no_proxy: 'x' } }))[0] as RunStep;
    const b = runs(plan(text, { buildArgs: { HTTP_PROXY: 'http://two:3128' } }))[0] as RunStep;
    expect(a.env.proxy).toEqual(['HTTP_PROXY=http://one:3128', 'no_proxy=x']);
    expect(a.env.args).toEqual([]);
    expect(a.createdBy).not.toContain('one:3128');
    expect(a.cache.key).toBe(b.cache.key);
  });

  it('treats a declared proxy ARG like any ARG', () => {
    const run = runs(plan('FROM a\nARG HTTP_PROXY\nRUN true\n', { buildArgs: { HTTP_PROXY: 'http://p' } }))[0] as RunStep;
    expect(run.env.args).toEqual(['HTTP_PROXY=http://p']);
  });

  it('warns about --build-arg values no ARG consumes, as docker does', () => {
    const text = 'ARG G\nFROM a AS unused\nARG ONLY_UNUSED\nFROM a\nARG USED\nRUN true\n';
    const p = plan(text, { buildArgs: { G: '1', USED: '1', ONLY_UNUSED: '1', NOPE: '1', HTTPS_PROXY: 'x', TARGETARCH: 'arm64' } });
    expect(p.warnings.filter((w) => w.code === 'UnusedBuildArg').map((w) => w.message)).toEqual(['one or more build-args [ONLY_UNUSED NOPE] were not consumed']);
    expect(plan(text, { buildArgs: { USED: '1' } }).warnings.filter((w) => w.code === 'UnusedBuildArg')).toEqual([]);
  });

  it('never shows build-arg values in cache-key parts, and keys follow the values', () => {
    const text = 'FROM a\nARG TOKEN\nRUN echo hi\nLABEL t=$TOKEN\n';
    const p1 = plan(text, { buildArgs: { TOKEN: 's3cr3t-value' } });
    const p2 = plan(text, { buildArgs: { TOKEN: 'other-value' } });
    const parts = JSON.stringify(p1.stages.map((s) => s.steps.map((x) => x.cache.parts)));
    expect(parts).not.toContain('s3cr3t-value');
    expect(runs(p1)[0]?.cache.key).not.toBe(runs(p2)[0]?.cache.key);
    const p3 = plan(text, { buildArgs: { TOKEN: 's3cr3t-value', UNRELATED: 'x' } });
    expect(runs(p3)[0]?.cache.key).toBe(runs(p1)[0]?.cache.key);
  });

  it('warns about variables used but never set, not about declared ARGs without value', () => {
    const p = plan('FROM a\nARG DECLARED\nLABEL a=$DECLARED b=$MISSING\n');
    expect(p.warnings.filter((w) => w.code === 'UndefinedVar').map((w) => w.message)).toEqual(["usage of undefined variable '$MISSING'"]);
    expect(p.warnings[0]?.location?.line).toBe(3);
  });

  it('records ARG values in the history line of RUN, docker style', () => {
    const run = runs(plan('FROM a\nARG A=1 B\nRUN echo\n'))[0] as RunStep;
    expect(run.createdBy).toBe('RUN |2 A=1 B= /bin/sh -c echo # buildkit');
  });

  it('keeps the ARG step itself as a config step without a layer', () => {
    const step = plan('FROM a\nARG X=1\n').stages[0]?.steps[0] as ConfigStep;
    expect(step.change).toEqual({ op: 'arg', names: ['X'] });
    expect(step.layer).toBe(false);
  });
});
