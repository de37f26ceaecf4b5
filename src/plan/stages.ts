/**
 * Stages of a Dockerfile before their steps are planned: FROM expanded with
 * the global ARGs, stage references (`FROM <stage>`, `COPY --from`,
 * `RUN --mount from=`), inherited ONBUILD triggers, and the dependency lists.
 */
import {
  LocationError,
  ShellLexError,
  lexEnv,
  parseInstruction,
  type ArgInstruction,
  type FromInstruction,
  type Instruction,
  type Location,
  type ParsedDockerfile,
  type ShellLexer,
} from '../dockerfile/index.js';
import { mayHaveHeredocs } from '../dockerfile/instructions.js';
import { scanLogicalLines } from '../dockerfile/scanner.js';
import { heredocsOfLine } from '../dockerfile/words.js';
import { SlipwayError } from '../oci/errors.js';
import { parsePlatform } from '../oci/platform.js';
import type { Diagnostics } from './diagnostics.js';
import type { PlanOptions, StageBase } from './types.js';

export interface RawStage {
  index: number;
  from: FromInstruction;
  body: Instruction[];
}

export interface ResolvedStage extends RawStage {
  base: StageBase;
  /** Expanded FROM --platform. */
  platform?: string;
  /** ONBUILD triggers inherited from the base (parent stage or base image), run first. */
  triggers: Instruction[];
  /** Stage indexes this one needs. */
  deps: number[];
}

export type StageRef = { stage: number } | { image: string };

/** Splits instructions into the global ARGs (before the first FROM) and the stages. */
export function splitStages(df: ParsedDockerfile): { meta: ArgInstruction[]; stages: RawStage[] } {
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

/**
 * A `--from` / `from=` value: a stage index, a stage name (any stage,
 * case-insensitive), else an image reference. Never expanded (BuildKit).
 */
export function stageRefOf(stages: readonly RawStage[], value: string): StageRef | { error: string } {
  if (/\$./.test(value)) return { error: 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround' };
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n < stages.length ? { stage: n } : { error: `invalid stage index ${n}` };
  }
  const i = stages.findIndex((s) => s.from.stageName === value.toLowerCase());
  return i >= 0 ? { stage: i } : { image: value };
}

export const STAGE_REF_HINT = 'name a stage (FROM ... AS NAME) or give its index';

/** Parses ONBUILD trigger texts (from a base image config) at the FROM's location. */
function parseTriggers(texts: readonly string[], escape: string, at: Location): Instruction[] {
  const out: Instruction[] = [];
  for (const t of texts) {
    const lines = scanLogicalLines(t, escape, (l) => (mayHaveHeredocs(l, escape) ? heredocsOfLine(l) : []));
    for (const l of lines) out.push(parseInstruction({ line: l.text, escape, heredocs: l.heredocs, location: at }));
  }
  return out;
}

/** FROM image and --platform, expanded with the global ARGs only. */
function resolveFrom(s: RawStage, all: readonly RawStage[], globals: ReadonlyMap<string, string>, lexer: ShellLexer, diag: Diagnostics): { base: StageBase; platform?: string } {
  const loc = s.from.location;
  let image = s.from.image;
  try {
    const r = lexer.process(s.from.image, lexEnv(globals));
    diag.undefinedVars(loc, r.unset);
    image = r.value;
    if (image === '') diag.errors.push(new LocationError(loc, `base name (${s.from.image}) should not be blank`, 'give the ARG used in FROM a default or pass --build-arg'));
  } catch (e) {
    if (!(e instanceof ShellLexError)) throw e;
    diag.errors.push(new LocationError(loc, e.message, e.hint ?? '', e.code));
  }
  // FROM <name> refers to an earlier stage only (BuildKit); otherwise it is an image.
  const earlier = all.slice(0, s.index).find((p) => p.from.stageName !== undefined && p.from.stageName === image);
  const base: StageBase = image === 'scratch' ? { kind: 'scratch' } : earlier ? { kind: 'stage', stage: earlier.index } : { kind: 'image', ref: image };
  if (s.from.platform === undefined) return { base };
  try {
    const platform = lexer.expandWord(s.from.platform, lexEnv(globals));
    if (platform === '') throw new LocationError(loc, `empty platform value from expression ${s.from.platform}`, 'use --platform=os/arch');
    parsePlatform(platform);
    return { base, platform };
  } catch (e) {
    if (e instanceof LocationError) diag.errors.push(e);
    else if (e instanceof SlipwayError) diag.errors.push(new LocationError(loc, `failed to parse platform ${s.from.platform}: ${e.message}`, e.hint ?? '', e.code));
    else throw e;
    return { base };
  }
}

/** `--from` values of one instruction (COPY --from, RUN --mount from=). */
function fromValues(ins: Instruction): string[] {
  if (ins.kind === 'copy') return ins.from !== undefined ? [ins.from] : [];
  if (ins.kind !== 'run') return [];
  return ins.mounts.flatMap((m) => {
    const f = /(?:^|,)from=([^,]*)/i.exec(m);
    return f && f[1] ? [f[1].replace(/^"|"$/g, '')] : [];
  });
}

/** Resolves every stage's base, platform, inherited triggers and dependencies; problems go to `diag`. */
export function resolveStages(
  stages: readonly RawStage[],
  globals: ReadonlyMap<string, string>,
  lexer: ShellLexer,
  options: PlanOptions,
  diag: Diagnostics,
): ResolvedStage[] {
  const withBase = stages.map((s) => ({ ...s, ...resolveFrom(s, stages, globals, lexer, diag) }));
  return withBase.map((s) => {
    let triggers: Instruction[] = [];
    if (s.base.kind === 'stage') {
      triggers = (stages[s.base.stage] as RawStage).body.flatMap((i) => (i.kind === 'onbuild' ? [i.trigger] : []));
    } else if (s.base.kind === 'image' && options.baseImage) {
      try {
        triggers = parseTriggers(options.baseImage(s.base.ref)?.onBuild ?? [], lexer.escape, s.from.location);
      } catch (e) {
        diag.errors.push(new LocationError(s.from.location, `base image ONBUILD trigger: ${(e as Error).message}`, 'the base image carries an invalid ONBUILD trigger'));
      }
    }
    const deps = new Set<number>();
    if (s.base.kind === 'stage') deps.add(s.base.stage);
    for (const ins of [...triggers, ...s.body]) {
      for (const f of fromValues(ins)) {
        const r = stageRefOf(stages, f);
        if ('stage' in r) deps.add(r.stage);
        else if ('error' in r) diag.errors.push(new LocationError(ins.location, r.error, STAGE_REF_HINT));
      }
    }
    return { ...s, triggers, deps: [...deps].sort((a, b) => a - b) };
  });
}
