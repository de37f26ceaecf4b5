import type { Image } from '../image/index.js';
import { Image as ImageClass, storedLayer } from '../image/index.js';
import type { PlanStage, Step } from '../plan/types.js';
import { DEFAULT_PATH } from '../runtime/index.js';
import { normalizePlatform, parsePlatform } from '../oci/index.js';
import type { ExecContext, StageState } from './context.js';
import { locationOf } from './context.js';
import type { CacheRecord } from './cache.js';
import type { CacheMiss } from './options.js';
import { runConfigStep } from './steps/config.js';
import { runCopyStep } from './steps/copy.js';
import { runRunStep } from './steps/run.js';
import { runWorkdirStep, workdirPath } from './steps/workdir.js';

export function stageLabel(stage: PlanStage): string {
  return stage.name ?? `stage-${stage.index}`;
}

async function baseImage(ctx: ExecContext, stage: PlanStage): Promise<Image> {
  const where = `${ctx.dockerfile}:${stage.location.line}`;
  switch (stage.base.kind) {
    case 'scratch':
      // BuildKit gives an empty image the default PATH
      return ImageClass.scratch(ctx.platform).withConfig((c) => {
        c.config = { ...(c.config ?? {}), Env: [`PATH=${DEFAULT_PATH}`] };
        return c;
      });
    case 'stage':
      return ctx.stageImage(stage.base.stage);
    case 'image': {
      // FROM --platform= picks that platform of the base (e.g. $BUILDPLATFORM for cross builds)
      const platform = stage.platform ? normalizePlatform(parsePlatform(stage.platform)) : ctx.platform;
      const img = await ctx.bases.resolve(stage.base.ref, platform, where);
      // ONBUILD triggers run now (the planner made them steps); images built on this one do not inherit them
      if (img.config.config?.OnBuild && img.config.config.OnBuild.length > 0) {
        return img.withConfig((c) => {
          if (c.config) delete c.config.OnBuild;
          return c;
        });
      }
      return img;
    }
  }
}

function stepText(step: Step): string {
  return step.instruction;
}

/** The cache record of `key` if the layer it names (if any) is still in the store. */
async function usableRecord(ctx: ExecContext, key: string): Promise<CacheRecord | undefined> {
  const rec = await ctx.cache.get(key);
  if (rec === undefined || rec.layer === undefined) return rec;
  return (await ctx.store.exists(rec.layer.descriptor).catch(() => false)) ? rec : undefined;
}

/** Runs one stage: base image, then each step, reusing cached layers where the key matches. */
export async function runStage(ctx: ExecContext, stage: PlanStage): Promise<Image> {
  const filtered = ctx.options.noCache === true || (ctx.options.noCacheFilter ?? []).some((f) => f === stage.name || f === String(stage.index));
  // every step's key is known now: look all records up at once, while the base image resolves
  const lookups = new Map<string, Promise<CacheRecord | undefined>>();
  if (!filtered) for (const step of stage.steps) if (step.cache.key !== undefined && !lookups.has(step.cache.key)) lookups.set(step.cache.key, usableRecord(ctx, step.cache.key));
  const st: StageState = { stage, image: await baseImage(ctx, stage), meta: { cmdSet: false }, label: stageLabel(stage) };
  let parentKey = stage.baseKey.key;
  const total = stage.steps.length;
  for (const [i, step] of stage.steps.entries()) {
    const id = `${stage.index}.${i + 1}`;
    const t0 = Date.now();
    ctx.emit({ type: 'step-start', id, stage: st.label, index: i + 1, total, text: stepText(step), location: locationOf(ctx, step) });
    if (ctx.options.signal?.aborted) throw ctx.options.signal.reason instanceof Error ? ctx.options.signal.reason : new Error('build cancelled');
    const key = step.cache.key;
    if (step.kind === 'config') {
      // a rebuild keeps the history time the step got first (with its key), so an unchanged
      // Dockerfile gives the same image; --timestamp / SOURCE_DATE_EPOCH always win
      const rec = key !== undefined && ctx.clamp === undefined ? await lookups.get(key) : undefined;
      const before = st.image.config.history?.length ?? 0;
      await runConfigStep(ctx, st, step, rec?.history.created ?? ctx.created);
      const added = st.image.config.history?.[before]; // ONBUILD adds none
      if (key !== undefined && rec === undefined && ctx.clamp === undefined && added !== undefined) {
        await ctx.cache.put({ key, parts: step.cache.parts, ...(parentKey !== undefined ? { parentKey } : {}), history: added, created: ctx.created });
      }
      ctx.emit({ type: 'step-done', id, ms: Date.now() - t0, cached: false });
      parentKey = key;
      continue;
    }
    if (key !== undefined && !filtered) {
      const rec = await lookups.get(key);
      if (rec) {
        if (step.kind === 'workdir') {
          const wd = workdirPath(step, st.image.config.config?.WorkingDir);
          st.image = st.image.withConfig((c) => {
            c.config = { ...(c.config ?? {}), WorkingDir: wd };
            return c;
          });
        }
        const history = { ...rec.history };
        delete history.empty_layer;
        st.image = rec.layer ? st.image.append(storedLayer(ctx.store, rec.layer.descriptor, rec.layer.diffId), history) : st.image.appendEmptyHistory(history);
        ctx.counters.cached++;
        ctx.emit({ type: 'step-cached', id, key });
        ctx.emit({ type: 'step-done', id, ms: Date.now() - t0, cached: true });
        parentKey = key;
        continue;
      }
    }
    const miss: CacheMiss = ctx.options.noCache
      ? { reason: 'no-cache' }
      : filtered
        ? { reason: 'no-cache-filter' }
        : key === undefined
          ? { reason: 'not-found', part: step.cache.parts.find((p) => p.pending)?.name ?? 'unknown' }
          : await ctx.cache.explainMiss(parentKey, step.cache.parts);
    ctx.emit({ type: 'step-miss', id, key: key ?? '', miss, parts: step.cache.parts.map((p) => ({ name: p.name, value: p.value })) });
    const layersBefore = st.image.layers.length;
    if (step.kind === 'run') await runRunStep(ctx, st, step, id);
    else if (step.kind === 'workdir') await runWorkdirStep(ctx, st, step);
    else await runCopyStep(ctx, st, step);
    ctx.counters.run++;
    const layer = st.image.layers.length > layersBefore ? st.image.layers[st.image.layers.length - 1] : undefined;
    const hist = st.image.config.history ?? [];
    const last = hist[hist.length - 1] ?? {};
    if (key !== undefined) {
      await ctx.cache.put({
        key,
        parts: step.cache.parts,
        ...(parentKey !== undefined ? { parentKey } : {}),
        ...(layer ? { layer: { descriptor: layer.descriptor, diffId: layer.diffId } } : {}),
        history: last,
        created: ctx.created,
      });
    }
    ctx.emit({ type: 'step-done', id, ms: Date.now() - t0, cached: false, ...(layer ? { layer: layer.descriptor.digest } : {}) });
    parentKey = key;
  }
  return st.image;
}
