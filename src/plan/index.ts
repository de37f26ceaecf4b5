export type {
  StageBase, CacheKeyPart, CacheInfo, ContextSelection, StepEnv, RunStep, CopySource, CopyStep, WorkdirStep,
  ConfigChange, ConfigStep, Step, PlanStage, PlanWarning, Plan, BaseImageInfo, PlanOptions,
  RunMount as PlanRunMount,
} from './types.js';
export { createPlan, UnknownTargetError } from './create-plan.js';
export { resolveCacheKeys, type ContentHasher } from './resolve-keys.js';
export { cacheKeyOf } from './cache-key.js';
export { PROXY_ARGS, BUILTIN_ARGS } from './args.js';
export { planBuild, type PlanBuildOptions, type PlannedBuild } from './plan-build.js';
