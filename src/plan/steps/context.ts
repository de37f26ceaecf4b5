import type { Instruction, Location } from '../../dockerfile/index.js';
import { hashValue, parentPart, cacheInfo } from '../cache-key.js';
import type { StageState } from '../state.js';
import type { CacheInfo, CacheKeyPart } from '../types.js';

/** What a step builder gets: the stage state and expansion helpers that record what they used. */
export interface StepContext {
  state: StageState;
  stageIndex: number;
  ins: Instruction;
  /** Expands one word with the stage's ENV/ARG (quotes removed); records used variables; throws LocationError. */
  word(value: string): string;
  /** Like `word`, split into words on unquoted whitespace (EXPOSE). */
  words(value: string): string[];
  /** Expands a word that may name a stage: `{stage}` when it does, else `{image}`. Throws on `$`. */
  stageRef(value: string, what: string): { stage: number } | { image: string };
  /** Final key (or pending) of a stage, for cache parts. */
  stagePart(name: string, stage: number): CacheKeyPart;
  /** Predefined proxy args from --build-arg, `K=V`. */
  proxy: string[];
  parent: CacheInfo;
  onbuild: boolean;
  /** Variables expansion met so far in this step (name -> value), for the `vars` cache part. */
  used: Map<string, string>;
  location: Location;
}

/** The common cache parts: parent, instruction as written, variables used (values hashed). */
export function commonParts(ctx: StepContext, extra: CacheKeyPart[] = []): CacheKeyPart[] {
  const parts: CacheKeyPart[] = [parentPart(ctx.parent), { name: 'instruction', value: ctx.ins.source }];
  if (ctx.used.size > 0) {
    parts.push({ name: 'vars', value: [...ctx.used].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${hashValue(v)}`).join(' ') });
  }
  return [...parts, ...extra];
}

export function finish(parts: CacheKeyPart[]): CacheInfo {
  return cacheInfo(parts);
}

/** Go's %q of a string slice: ["a" "b"]. */
export function goQuoteList(xs: readonly string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
}
