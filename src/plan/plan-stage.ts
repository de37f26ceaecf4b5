/** Plans the steps of one stage: expansion with the stage's ENV/ARG, one builder per step kind, cache keys. */
import { LocationError, ShellLexError, type Instruction, type ShellLexer } from '../dockerfile/index.js';
import { cacheInfo } from './cache-key.js';
import type { Diagnostics } from './diagnostics.js';
import { STAGE_REF_HINT, stageRefOf, type RawStage, type ResolvedStage } from './stages.js';
import { StageState } from './state.js';
import { argStep } from './steps/arg.js';
import { configStep } from './steps/config.js';
import type { StepContext } from './steps/context.js';
import { copyStep } from './steps/copy.js';
import { runStep } from './steps/run.js';
import { workdirStep } from './steps/workdir.js';
import type { BaseImageInfo, CacheKeyPart, PlanStage, Step } from './types.js';

/** What planning a stage needs from the plan as a whole. */
export interface StagePlanning {
  stages: readonly RawStage[];
  lexer: ShellLexer;
  globals: ReadonlyMap<string, string>;
  buildArgs: Record<string, string>;
  /** Proxy build args, `K=V`. */
  proxy: string[];
  /** `os/arch[/variant]` of the target platform, for stages without FROM --platform. */
  targetPlatform: string;
  /** --timestamp / SOURCE_DATE_EPOCH, when given: a base key part. */
  timestamp?: number;
  diag: Diagnostics;
  /** ARG names consumed (for the unused --build-arg warning). */
  consumed: Set<string>;
  /** Cache part for a stage's final key (pending until that stage is planned with a known key). */
  stagePart(name: string, stage: number): CacheKeyPart;
  /** Final state of an already planned stage (FROM <stage> starts from it). */
  stateOf(stage: number): StageState;
}

function initialState(s: ResolvedStage, info: BaseImageInfo | undefined, p: StagePlanning): StageState {
  const state = s.base.kind === 'stage' ? p.stateOf(s.base.stage).clone() : new StageState();
  if (!info) return state;
  for (const kv of info.env ?? []) {
    const eq = kv.indexOf('=');
    state.env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
  }
  if (info.workingDir) state.workdir = info.workingDir;
  if (info.user) state.user = info.user;
  if (info.shell) state.shell = [...info.shell];
  return state;
}

function buildStep(ctx: StepContext, ins: Instruction, p: StagePlanning, baseWorkdir: string | undefined): Step | undefined {
  switch (ins.kind) {
    case 'arg':
      for (const a of ins.args) p.consumed.add(a.key);
      return argStep(ctx, ins, p.globals, p.buildArgs);
    case 'run':
      return runStep(ctx, ins);
    case 'copy':
    case 'add':
      return copyStep(ctx, ins);
    case 'workdir':
      return workdirStep(ctx, ins, baseWorkdir);
    default:
      return configStep(ctx, ins);
  }
}

/** Plans `s`; located errors go to `p.diag` (the stage is still returned, without the failed steps). */
export function planStage(s: ResolvedStage, info: BaseImageInfo | undefined, p: StagePlanning): { stage: PlanStage; state: StageState } {
  const state = initialState(s, info, p);
  const baseParts: CacheKeyPart[] =
    s.base.kind === 'scratch' ? [{ name: 'base', value: 'scratch' }]
    : s.base.kind === 'image' ? [{ name: 'base', value: `image:${s.base.ref}${info?.digest ? `@${info.digest}` : ''}` }]
    : [p.stagePart('base', s.base.stage)];
  baseParts.push({ name: 'platform', value: s.platform ?? p.targetPlatform });
  if (p.timestamp !== undefined) baseParts.push({ name: 'timestamp', value: String(p.timestamp) });
  const stage: PlanStage = {
    index: s.index,
    ...(s.from.stageName ? { name: s.from.stageName } : {}),
    base: s.base,
    ...(s.platform !== undefined ? { platform: s.platform } : {}),
    dependsOn: s.deps,
    imageDeps: [],
    location: s.from.location,
    steps: [],
    baseKey: cacheInfo(baseParts),
  };
  let parent = stage.baseKey;
  const all = [...s.triggers.map((ins) => ({ ins, onbuild: true })), ...s.body.map((ins) => ({ ins, onbuild: false }))];
  for (const { ins, onbuild } of all) {
    const used = new Map<string, string>();
    const location = ins.location;
    const lex = (value: string) => {
      try {
        const env = state.lexEnv();
        const r = p.lexer.process(value, env);
        for (const k of r.used) used.set(k, env.get(k) ?? '');
        p.diag.undefinedVars(location, r.unset, (n) => state.declared.includes(n));
        return r;
      } catch (e) {
        if (e instanceof ShellLexError) throw new LocationError(location, e.message, e.hint ?? '', e.code);
        throw e;
      }
    };
    const ctx: StepContext = {
      state, stageIndex: s.index, ins, proxy: p.proxy, parent, onbuild, used, location,
      word: (value) => lex(value).value,
      words: (value) => lex(value).words,
      stageRef: (value) => {
        const r = stageRefOf(p.stages, value);
        if ('error' in r) throw new LocationError(location, r.error, STAGE_REF_HINT);
        if ('image' in r && !stage.imageDeps.includes(r.image)) stage.imageDeps.push(r.image);
        return r;
      },
      stagePart: (name, i) => p.stagePart(name, i),
    };
    try {
      const step = buildStep(ctx, ins, p, info?.workingDir);
      if (step) {
        stage.steps.push(step);
        parent = step.cache;
      }
    } catch (e) {
      if (!(e instanceof LocationError)) throw e;
      p.diag.errors.push(e);
    }
  }
  return { stage, state };
}
