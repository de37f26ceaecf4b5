import { DockerfileErrors, LocationError } from '../dockerfile/index.js';
import { SlipwayError } from '../oci/errors.js';
import { cacheInfo, parentPart } from './cache-key.js';
import type { CacheInfo, CacheKeyPart, ContextSelection, Plan, PlanStage, Step } from './types.js';

/** Computes the content digest of build-context files a step reads (src/context's `hashSelection` fits). */
export type ContentHasher = (selection: ContextSelection) => Promise<string>;

/**
 * Fills every pending cache part (build-context content, stage keys, parents)
 * and recomputes the keys, stage by stage in plan order. Returns a new Plan;
 * the input is not changed. Each distinct selection is hashed once. A
 * hasher failure (missing source) becomes a LocationError at the step; all of
 * them are thrown together as DockerfileErrors.
 */
export async function resolveCacheKeys(plan: Plan, hasher: ContentHasher): Promise<Plan> {
  const memo = new Map<string, Promise<string>>();
  const hash = (sel: ContextSelection): Promise<string> => {
    const k = JSON.stringify(sel);
    let p = memo.get(k);
    if (!p) {
      p = hasher(sel);
      memo.set(k, p);
    }
    return p;
  };
  const finals = new Map<number, CacheInfo>();
  const stages: PlanStage[] = [];
  const errors: LocationError[] = [];
  const fill = async (parts: CacheKeyPart[], parent: CacheInfo | undefined, step?: Step): Promise<CacheKeyPart[]> => {
    const out: CacheKeyPart[] = [];
    for (const p of parts) {
      if (p.name === 'parent' && parent) out.push(parentPart(parent));
      else if (p.context) {
        try {
          out.push({ name: p.name, value: await hash(p.context), context: p.context });
        } catch (e) {
          if (!step) throw e;
          const se = e instanceof SlipwayError ? e : undefined;
          errors.push(new LocationError(step.location, (e as Error).message, se?.hint ?? 'check the build context', se?.code ?? 'CONTEXT_SOURCE', e));
          out.push(p);
        }
      }
      else if (p.stage !== undefined) {
        const k = finals.get(p.stage)?.key;
        out.push(k === undefined ? p : { name: p.name, value: k, stage: p.stage });
      } else out.push(p);
    }
    return out;
  };
  for (const st of plan.stages) {
    // a key the planner could compute has nothing pending (its parent's included): kept as it is
    const baseKey = st.baseKey.key !== undefined ? st.baseKey : cacheInfo(await fill(st.baseKey.parts, undefined));
    let parent = baseKey;
    const steps: Step[] = [];
    for (const step of st.steps) {
      const cache = step.cache.key !== undefined ? step.cache : cacheInfo(await fill(step.cache.parts, parent, step));
      steps.push(cache === step.cache ? step : ({ ...step, cache } as Step));
      parent = cache;
    }
    finals.set(st.index, parent);
    stages.push({ ...st, baseKey, steps });
  }
  if (errors.length > 0) throw new DockerfileErrors(errors[0]?.location.file ?? 'Dockerfile', errors);
  return { ...plan, stages };
}
