/**
 * Dockerfile -> Plan: stages and their dependency DAG, the stages the target
 * needs, ARG/ENV expansion where the reference applies it, and cache keys.
 */
import { DockerfileErrors, LocationError, ShellLexer, suggestName, type ParsedDockerfile } from '../dockerfile/index.js';
import { SlipwayError } from '../oci/errors.js';
import { hostPlatform, normalizePlatform } from '../oci/platform.js';
import { BUILTIN_ARGS, PROXY_ARGS, globalArgs, platformArgs } from './args.js';
import { Diagnostics } from './diagnostics.js';
import { findCycle, parallelLevels, reachable, topoOrder } from './graph.js';
import { planStage } from './plan-stage.js';
import { resolveStages, splitStages, type ResolvedStage } from './stages.js';
import type { StageState } from './state.js';
import type { CacheInfo, CacheKeyPart, Plan, PlanOptions, PlanStage } from './types.js';

/** The target named by --target does not exist. */
export class UnknownTargetError extends SlipwayError {
  constructor(target: string, names: string[]) {
    const s = suggestName(target, names);
    super('DOCKERFILE_STAGE', `target stage "${target}" could not be found${s ? ` (did you mean ${s}?)` : ''}`, {
      hint: names.length > 0 ? `stages in this Dockerfile: ${names.join(', ')}` : 'name a stage with FROM ... AS NAME',
      exitCode: 2,
    });
  }
}

function cycleError(stages: readonly ResolvedStage[], cycle: number[]): LocationError {
  const label = (i: number) => stages[i]?.from.stageName ?? `stage-${i}`;
  const first = stages[cycle[0] as number] as ResolvedStage;
  return new LocationError(
    first.from.location,
    `circular dependency detected on stage: ${label(first.index)} (${cycle.map(label).join(' -> ')})`,
    'a stage cannot depend (FROM, COPY --from, RUN --mount from) on itself or on a stage that depends on it',
    'DOCKERFILE_STAGE',
  );
}

/** Turns a parsed Dockerfile into a Plan. Throws DockerfileErrors (every located error) or UnknownTargetError. */
export function createPlan(df: ParsedDockerfile, options: PlanOptions = {}): Plan {
  const diag = new Diagnostics();
  const lexer = new ShellLexer(df.directives.escape);
  const buildArgs = options.buildArgs ?? {};
  const buildPlatform = normalizePlatform(options.buildPlatform ?? hostPlatform());
  const targetPlatform = normalizePlatform(options.targetPlatform ?? buildPlatform);
  const { meta, stages: raw } = splitStages(df);

  let target = raw.length - 1;
  if (options.target !== undefined && options.target !== '') {
    target = raw.findIndex((s) => s.from.stageName === options.target?.toLowerCase());
    if (target < 0) throw new UnknownTargetError(options.target, raw.flatMap((s) => (s.from.stageName ? [s.from.stageName] : [])));
  }

  const base = platformArgs(buildPlatform, targetPlatform, raw[target]?.from.stageName ?? '', buildArgs);
  const globals = globalArgs(meta, base, buildArgs, lexer, (ins, unset) => diag.undefinedVars(ins.location, unset));
  const stages = resolveStages(raw, globals.values, lexer, options, diag);
  const deps = stages.map((s) => s.deps);
  const cycle = findCycle(deps);
  if (cycle) diag.errors.push(cycleError(stages, cycle));
  if (diag.errors.length > 0) throw new DockerfileErrors(df.file, diag.errors);

  const order = topoOrder(deps, reachable(deps, target));
  const planned = new Map<number, { stage: PlanStage; state: StageState }>();
  const finalKey = (i: number): CacheInfo => {
    const st = planned.get(i)?.stage;
    if (!st) return { parts: [] };
    return st.steps[st.steps.length - 1]?.cache ?? st.baseKey;
  };
  const consumed = new Set<string>(globals.declared);
  const planning = {
    stages: raw,
    lexer,
    globals: globals.values,
    buildArgs,
    proxy: PROXY_ARGS.filter((k) => Object.prototype.hasOwnProperty.call(buildArgs, k)).map((k) => `${k}=${buildArgs[k] as string}`),
    targetPlatform: [targetPlatform.os, targetPlatform.architecture, targetPlatform.variant].filter((x) => x).join('/'),
    ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
    diag,
    consumed,
    stagePart(name: string, i: number): CacheKeyPart {
      const k = finalKey(i).key;
      return k === undefined ? { name, value: `stage:${i}`, pending: true, stage: i } : { name, value: k, stage: i };
    },
    stateOf: (i: number) => (planned.get(i) as { state: StageState }).state,
  };
  for (const idx of order) {
    const s = stages[idx] as ResolvedStage;
    const info = s.base.kind === 'image' ? options.baseImage?.(s.base.ref) : undefined;
    planned.set(idx, planStage(s, info, planning));
  }
  if (diag.errors.length > 0) throw new DockerfileErrors(df.file, diag.errors);

  const unused = Object.keys(buildArgs).filter((k) => !consumed.has(k) && !PROXY_ARGS.includes(k) && !BUILTIN_ARGS.includes(k) && !k.startsWith('BUILDKIT_'));
  if (unused.length > 0) diag.warn({ code: 'UnusedBuildArg', message: `one or more build-args [${unused.join(' ')}] were not consumed` });
  return {
    stages: order.map((i) => (planned.get(i) as { stage: PlanStage }).stage),
    target,
    levels: parallelLevels(deps, order),
    buildArgs: [...globals.declared].filter((k) => globals.values.has(k)),
    warnings: diag.list(),
    escape: df.directives.escape,
  };
}
