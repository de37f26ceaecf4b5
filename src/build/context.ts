import type { Platform } from '../oci/index.js';
import type { InPlaceExecutor, StorageDriver } from '../runtime/index.js';
import type { Image } from '../image/index.js';
import type { LayoutStore, StorePaths } from '../store/index.js';
import type { Plan, PlanStage, Step } from '../plan/types.js';
import type { LayerCache } from './cache.js';
import type { LayerIndexCache } from './layer-index.js';
import type { BaseResolver } from './base.js';
import type { RootfsCache } from './rootfs.js';
import type { SourceRoot } from './copy/resolve.js';
import type { BuildEvent, BuildOptions } from './options.js';
import type { MetadataState } from './metadata.js';

/** Everything one build shares between its stages and steps. */
export interface ExecContext {
  options: BuildOptions;
  /** overlay, fuse-overlayfs or vfs, as probed (and remembered) for this machine. */
  storageDriver: StorageDriver;
  /** Build mode 2: RUN steps run in place over this container's root. */
  inPlace?: InPlaceExecutor;
  plan: Plan;
  dockerfile: string;
  store: LayoutStore;
  paths: StorePaths;
  cache: LayerCache;
  index: LayerIndexCache;
  unpack: RootfsCache;
  bases: BaseResolver;
  platform: Platform;
  /** ISO time for `created` and history (SOURCE_DATE_EPOCH when given). */
  created: string;
  /** Unix seconds: files newer than this are clamped (only with --timestamp/SOURCE_DATE_EPOCH). */
  clamp: number | undefined;
  now: number;
  contextRoot: SourceRoot;
  emit(e: BuildEvent): void;
  /** Final image of a stage (built on demand, once). */
  stageImage(index: number): Promise<Image>;
  /** The root filesystem directory of a built stage (for COPY --from / bind mounts). */
  stageRootfs(index: number): Promise<string>;
  imageRootfs(image: Image): Promise<string>;
  counters: { run: number; cached: number };
}

/** A stage's state while its steps run. */
export interface StageState {
  stage: PlanStage;
  image: Image;
  meta: MetadataState;
  /** Display label (`builder`, `stage-1`). */
  label: string;
}

export interface StepResult {
  image: Image;
}

export type StepRunner<S extends Step = Step> = (ctx: ExecContext, st: StageState, step: S, id: string) => Promise<Image>;

export function locationOf(ctx: ExecContext, step: { location: { line: number } }): string {
  return `${ctx.dockerfile}:${step.location.line}`;
}
