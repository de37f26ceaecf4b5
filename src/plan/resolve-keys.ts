import { cacheInfo, parentPart } from './cache-key.js';
import type { CacheInfo, CacheKeyPart, ContextSelection, Plan, PlanStage, Step } from './types.js';

/** Computes the content digest of build-context files a step reads (src/context's `hashSelection` fits). */
export type ContentHasher = (selection: ContextSelection) => Promise<string>;

/**
 * Fills every pending cache part (build-context content, stage keys, parents)
 * and recomputes the keys, stage by stage in plan order. Returns a new Plan;
 * the input is not changed. Each distinct selection is hashed once.
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
  const fill = async (parts: CacheKeyPart[], parent: CacheInfo | undefined): Promise<CacheKeyPart[]> => {
    const out: CacheKeyPart[] = [];
    for (const p of parts) {
      if (p.name === 'parent' && parent) out.push(parentPart(parent));
      else if (p.context) out.push({ name: p.name, value: await hash(p.context), context: p.context });
      else if (p.stage !== undefined) {
        const k = finals.get(p.stage)?.key;
        out.push(k === undefined ? p : { name: p.name, value: p.name.startsWith('mount') ? `stage ${k}` : k, stage: p.stage });
      } else out.push(p);
    }
    return out;
  };
  for (const st of plan.stages) {
    const baseKey = cacheInfo(await fill(st.baseKey.parts, undefined));
    let parent = baseKey;
    const steps: Step[] = [];
    for (const step of st.steps) {
      const cache = cacheInfo(await fill(step.cache.parts, parent));
      steps.push({ ...step, cache } as Step);
      parent = cache;
    }
    finals.set(st.index, parent);
    stages.push({ ...st, baseKey, steps });
  }
  return { ...plan, stages };
}
