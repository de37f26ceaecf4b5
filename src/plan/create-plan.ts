/**
 * Dockerfile -> Plan: stages and their dependency DAG, the stages the target
 * needs, ARG/ENV expansion where the reference applies it, and cache keys.
 */
import {
  DockerfileErrors,
  LocationError,
  ShellLexer,
  lexEnv,
  parseInstruction,
  suggestName,
  type ArgInstruction,
  type FromInstruction,
  type Instruction,
  type Location,
  type ParsedDockerfile,
} from '../dockerfile/index.js';
import { ShellLexError } from '../dockerfile/shell-lex.js';
import { mayHaveHeredocs } from '../dockerfile/instructions.js';
import { scanLogicalLines } from '../dockerfile/scanner.js';
import { heredocsOfLine } from '../dockerfile/words.js';
import { SlipwayError } from '../oci/errors.js';
import { hostPlatform, normalizePlatform, parsePlatform } from '../oci/platform.js';
import { BUILTIN_ARGS, PROXY_ARGS, globalArgs, platformArgs } from './args.js';
import { cacheInfo } from './cache-key.js';
import { findCycle, parallelLevels, reachable, topoOrder } from './graph.js';
import { StageState } from './state.js';
import { argStep } from './steps/arg.js';
import { configStep } from './steps/config.js';
import type { StepContext } from './steps/context.js';
import { copyStep } from './steps/copy.js';
import { runStep } from './steps/run.js';
import { workdirStep } from './steps/workdir.js';
import type { BaseImageInfo, CacheInfo, CacheKeyPart, Plan, PlanOptions, PlanStage, PlanWarning, StageBase, Step } from './types.js';

interface RawStage {
  index: number;
  from: FromInstruction;
  body: Instruction[];
}

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

function splitStages(df: ParsedDockerfile): { meta: ArgInstruction[]; stages: RawStage[] } {
  const meta: ArgInstruction[] = [];
  const stages: RawStage[] = [];
  for (const ins of df.instructions) {
    if (ins.kind === 'from') stages.push({ index: stages.length, from: ins, body: [] });
    else if (stages.length === 0) {
      if (ins.kind === 'arg') meta.push(ins);
    } else (stages[stages.length - 1] as RawStage).body.push(ins);
  }
  return { meta, stages };
}

/** Parses ONBUILD trigger texts (from a base image config) at the FROM's location. */
function parseTriggers(texts: readonly string[], escape: string, at: Location): Instruction[] {
  const out: Instruction[] = [];
  for (const t of texts) {
    const lines = scanLogicalLines(t, escape, (l) => (mayHaveHeredocs(l, escape) ? heredocsOfLine(l) : []));
    for (const l of lines) out.push(parseInstruction({ line: l.text, escape, heredocs: l.heredocs, location: at }));
  }
  return out;
}

/** Turns a parsed Dockerfile into a Plan. Throws DockerfileErrors (every located error) or UnknownTargetError. */
export function createPlan(df: ParsedDockerfile, options: PlanOptions = {}): Plan {
  const errors: LocationError[] = [];
  const warnings: PlanWarning[] = [];
  const escape = df.directives.escape;
  const lexer = new ShellLexer(escape);
  const buildArgs = options.buildArgs ?? {};
  const buildPlatform = normalizePlatform(options.buildPlatform ?? hostPlatform());
  const targetPlatform = normalizePlatform(options.targetPlatform ?? buildPlatform);
  const { meta, stages } = splitStages(df);
  const names = stages.flatMap((s) => (s.from.stageName ? [s.from.stageName] : []));

  let target = stages.length - 1;
  if (options.target !== undefined && options.target !== '') {
    const t = stages.findIndex((s) => s.from.stageName === options.target?.toLowerCase());
    if (t < 0) throw new UnknownTargetError(options.target, names);
    target = t;
  }
  const targetName = stages[target]?.from.stageName ?? '';

  const undefinedVar = (loc: Location, unset: Iterable<string>, declared: (n: string) => boolean): void => {
    for (const n of unset) {
      if (declared(n)) continue;
      warnings.push({ code: 'UndefinedVar', message: `usage of undefined variable '$${n}'`, location: loc });
    }
  };

  const globals = globalArgs(meta, platformArgs(buildPlatform, targetPlatform, targetName, buildArgs), buildArgs, lexer, (ins, unset) =>
    undefinedVar(ins.location, unset, () => false),
  );

  // FROM lines: expanded with the global args only.
  const bases: StageBase[] = [];
  const platforms: (string | undefined)[] = [];
  for (const s of stages) {
    const loc = s.from.location;
    let image = s.from.image;
    try {
      const r = lexer.process(s.from.image, lexEnv(globals.values));
      undefinedVar(loc, r.unset, () => false);
      image = r.value;
      if (image === '') errors.push(new LocationError(loc, `base name (${s.from.image}) should not be blank`, 'give the ARG used in FROM a default or pass --build-arg'));
    } catch (e) {
      if (!(e instanceof ShellLexError)) throw e;
      errors.push(new LocationError(loc, e.message, e.hint ?? '', e.code));
    }
    const earlier = stages.slice(0, s.index).find((p) => p.from.stageName !== undefined && p.from.stageName === image);
    bases.push(image === 'scratch' ? { kind: 'scratch' } : earlier ? { kind: 'stage', stage: earlier.index } : { kind: 'image', ref: image });
    let platform: string | undefined;
    if (s.from.platform !== undefined) {
      try {
        platform = lexer.expandWord(s.from.platform, lexEnv(globals.values));
        if (platform === '') throw new LocationError(loc, `empty platform value from expression ${s.from.platform}`, 'use --platform=os/arch');
        parsePlatform(platform);
      } catch (e) {
        if (e instanceof LocationError) errors.push(e);
        else if (e instanceof SlipwayError) errors.push(new LocationError(loc, `failed to parse platform ${s.from.platform}: ${e.message}`, e.hint ?? '', e.code));
        else throw e;
      }
    }
    platforms.push(platform);
  }

  // Stage references, without expansion (BuildKit: --from and mount from= are never expanded).
  const refOf = (value: string): { stage: number } | { image: string } | { error: string } => {
    if (/\$./.test(value)) return { error: 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround' };
    if (/^\d+$/.test(value)) {
      const n = Number(value);
      return n < stages.length ? { stage: n } : { error: `invalid stage index ${n}` };
    }
    const i = stages.findIndex((s) => s.from.stageName === value.toLowerCase());
    return i >= 0 ? { stage: i } : { image: value };
  };
  const inherited = (s: RawStage): Instruction[] => {
    const b = bases[s.index] as StageBase;
    if (b.kind === 'stage') return (stages[b.stage] as RawStage).body.flatMap((i) => (i.kind === 'onbuild' ? [i.trigger] : []));
    if (b.kind === 'image' && options.baseImage) {
      try {
        return parseTriggers(options.baseImage(b.ref)?.onBuild ?? [], escape, s.from.location);
      } catch (e) {
        errors.push(new LocationError(s.from.location, `base image ONBUILD trigger: ${(e as Error).message}`, 'the base image carries an invalid ONBUILD trigger'));
      }
    }
    return [];
  };
  const triggers = stages.map(inherited);
  const deps: number[][] = stages.map((s) => {
    const d = new Set<number>();
    const b = bases[s.index] as StageBase;
    if (b.kind === 'stage') d.add(b.stage);
    for (const ins of [...(triggers[s.index] as Instruction[]), ...s.body]) {
      const froms: string[] = [];
      if (ins.kind === 'copy' && ins.from !== undefined) froms.push(ins.from);
      if (ins.kind === 'run') {
        for (const m of ins.mounts) {
          const f = /(?:^|,)from=([^,]*)/i.exec(m);
          if (f && f[1]) froms.push(f[1].replace(/^"|"$/g, ''));
        }
      }
      for (const f of froms) {
        const r = refOf(f);
        if ('stage' in r) d.add(r.stage);
        else if ('error' in r) errors.push(new LocationError(ins.location, r.error, 'name a stage (FROM ... AS NAME) or give its index'));
      }
    }
    return [...d].sort((a, b) => a - b);
  });

  const cycle = findCycle(deps);
  if (cycle) {
    const first = stages[cycle[0] as number] as RawStage;
    const label = (i: number) => stages[i]?.from.stageName ?? `stage-${i}`;
    errors.push(new LocationError(first.from.location, `circular dependency detected on stage: ${label(first.index)} (${cycle.map(label).join(' -> ')})`, 'a stage cannot depend (FROM, COPY --from, RUN --mount from) on itself or on a stage that depends on it', 'DOCKERFILE_STAGE'));
  }
  if (errors.length > 0) throw new DockerfileErrors(df.file, errors);

  const needed = reachable(deps, target);
  const order = topoOrder(deps, needed);
  const proxy = PROXY_ARGS.filter((k) => Object.prototype.hasOwnProperty.call(buildArgs, k)).map((k) => `${k}=${buildArgs[k] as string}`);
  const planned = new Map<number, PlanStage>();
  const finalState = new Map<number, StageState>();
  const finalKey = (i: number): CacheInfo => {
    const p = planned.get(i);
    if (!p) return { parts: [] };
    const last = p.steps[p.steps.length - 1];
    return last ? last.cache : p.baseKey;
  };
  const consumed = new Set<string>(globals.declared);

  for (const idx of order) {
    const s = stages[idx] as RawStage;
    const base = bases[idx] as StageBase;
    const platform = platforms[idx];
    const info: BaseImageInfo | undefined = base.kind === 'image' ? options.baseImage?.(base.ref) : undefined;
    const state = base.kind === 'stage' ? (finalState.get(base.stage) as StageState).clone() : new StageState();
    if (info) {
      for (const kv of info.env ?? []) {
        const eq = kv.indexOf('=');
        state.env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
      }
      if (info.workingDir) state.workdir = info.workingDir;
      if (info.user) state.user = info.user;
      if (info.shell) state.shell = [...info.shell];
    }
    const baseParts: CacheKeyPart[] =
      base.kind === 'scratch' ? [{ name: 'base', value: 'scratch' }]
      : base.kind === 'image' ? [{ name: 'base', value: `image:${base.ref}${info?.digest ? `@${info.digest}` : ''}` }]
      : [stagePartOf('base', base.stage)];
    baseParts.push({ name: 'platform', value: platform ?? `${targetPlatform.os}/${targetPlatform.architecture}${targetPlatform.variant ? `/${targetPlatform.variant}` : ''}` });
    const baseKey = cacheInfo(baseParts);
    const stage: PlanStage = {
      index: idx,
      ...(s.from.stageName ? { name: s.from.stageName } : {}),
      base,
      ...(platform !== undefined ? { platform } : {}),
      dependsOn: deps[idx] as number[],
      imageDeps: [],
      location: s.from.location,
      steps: [],
      baseKey,
    };
    let parent = baseKey;
    const all: [Instruction, boolean][] = [...(triggers[idx] as Instruction[]).map((i) => [i, true] as [Instruction, boolean]), ...s.body.map((i) => [i, false] as [Instruction, boolean])];
    for (const [ins, onbuild] of all) {
      const used = new Map<string, string>();
      const location = ins.location;
      const lex = (value: string) => {
        try {
          const env = state.lexEnv();
          const r = lexer.process(value, env);
          for (const k of r.used) used.set(k, env.get(k) ?? '');
          undefinedVar(location, r.unset, (n) => state.declared.includes(n));
          return r;
        } catch (e) {
          if (e instanceof ShellLexError) throw new LocationError(location, e.message, e.hint ?? '', e.code);
          throw e;
        }
      };
      const ctx: StepContext = {
        state, stageIndex: idx, ins, proxy, parent, onbuild, used, location,
        word: (value) => lex(value).value,
        words: (value) => lex(value).words,
        stageRef: (value) => {
          const r = refOf(value);
          if ('error' in r) throw new LocationError(location, r.error, 'name a stage (FROM ... AS NAME) or give its index');
          if ('image' in r && !stage.imageDeps.includes(r.image)) stage.imageDeps.push(r.image);
          return r;
        },
        stagePart: (name, i) => stagePartOf(name, i),
      };
      let step: Step | undefined;
      try {
        if (ins.kind === 'arg') {
          for (const a of ins.args) consumed.add(a.key);
          step = argStep(ctx, ins, globals.values, buildArgs);
        } else if (ins.kind === 'run') step = runStep(ctx, ins);
        else if (ins.kind === 'copy' || ins.kind === 'add') step = copyStep(ctx, ins);
        else if (ins.kind === 'workdir') step = workdirStep(ctx, ins, info?.workingDir);
        else step = configStep(ctx, ins);
      } catch (e) {
        if (e instanceof LocationError) {
          errors.push(e);
          continue;
        }
        throw e;
      }
      if (step) {
        stage.steps.push(step);
        parent = step.cache;
      }
    }
    planned.set(idx, stage);
    finalState.set(idx, state);
  }
  if (errors.length > 0) throw new DockerfileErrors(df.file, errors);

  const unused = Object.keys(buildArgs).filter((k) => !consumed.has(k) && !PROXY_ARGS.includes(k) && !BUILTIN_ARGS.includes(k) && !k.startsWith('BUILDKIT_'));
  if (unused.length > 0) {
    warnings.push({ code: 'UnusedBuildArg', message: `one or more build-args [${unused.join(' ')}] were not consumed` });
  }
  return {
    stages: order.map((i) => planned.get(i) as PlanStage),
    target,
    levels: parallelLevels(deps, order),
    buildArgs: [...globals.declared].filter((k) => globals.values.has(k)),
    warnings: dedupeWarnings(warnings),
    escape,
  };

  function stagePartOf(name: string, i: number): CacheKeyPart {
    const k = finalKey(i);
    return k.key === undefined ? { name, value: `stage:${i}`, pending: true, stage: i } : { name, value: k.key, stage: i };
  }
}

function dedupeWarnings(ws: PlanWarning[]): PlanWarning[] {
  const seen = new Set<string>();
  return ws.filter((w) => {
    const k = `${w.code}|${w.message}|${w.location?.line ?? ''}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
