/**
 * Build modes for locked-down environments (issue 7):
 *   const mode = await detectBuildMode({ isolation, forceInPlace, env });   // 1 rootless, 2 in-place, 3 no-RUN
 *   formatBuildMode(mode)             -> the build log's first line
 *   formatBuildModeReport(mode)       -> `slipway info` lines (every blocker with its fix)
 *   assertRunStepsPossible(mode, plan, 'Dockerfile')  -> mode 3 + RUN: one located line per step, before any pull
 *   mode 2: const ex = InPlaceExecutor.forBuild({ keep: [storeRoot, context, ...outputs], env });
 *           const { exitCode, layer } = await ex.runStep(stageImage.layers, runSpecWithoutRootfs, io, writeLayerOptions);
 */
export {
  assessBuildMode,
  formatBuildMode,
  formatBuildModeReport,
  forceInPlaceFromEnv,
  BuildModeUnavailableError,
  InPlaceRefusedError,
  BUILD_MODE_NAMES,
} from './assess.js';
export type { BuildModeNumber, BuildModeName, BuildModeReport, ModeBlocker, ModeRequest } from './assess.js';
export type { EnvironmentFacts, NamespaceProbe } from './facts.js';
export { gatherEnvironmentFacts, hostProbes } from './environment-probe.js';
export type { EnvironmentProbes } from './environment-probe.js';
export { detectBuildMode } from './detect.js';
export { RunNotPossibleError, assertRunStepsPossible, runNotPossibleLines, runStepLocations } from './no-run.js';
export { InPlaceExecutor } from './in-place-executor.js';
export type { InPlaceExecutorOptions, InPlaceStepResult } from './in-place-executor.js';
export type { InPlaceRunSpec } from './in-place-run.js';
export { inPlaceKeepSet, KeepSet as InPlaceKeepSet, IN_PLACE_ALWAYS_KEPT } from './in-place-keep.js';
