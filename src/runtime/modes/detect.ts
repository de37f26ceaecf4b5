import { assessBuildMode, forceInPlaceFromEnv, type BuildModeReport, type ModeRequest } from './assess.js';
import { gatherEnvironmentFacts, hostProbes, type EnvironmentProbes } from './environment-probe.js';

/**
 * The build mode this machine gives (1 rootless, 2 in-place, 3 no RUN) and every
 * reason the better ones are unavailable. `forceInPlace` also reads
 * SLIPWAY_FORCE_IN_PLACE from `env`. Throws BuildModeUnavailableError or
 * InPlaceRefusedError when `isolation` asks for what cannot be had. Successful namespace
 * probes are remembered per environment (probe-cache.ts); `fresh` probes anyway.
 */
export async function detectBuildMode(req: ModeRequest & { env?: Record<string, string | undefined>; fresh?: boolean } = {}, probes?: EnvironmentProbes): Promise<BuildModeReport> {
  const env = req.env ?? process.env;
  const facts = await gatherEnvironmentFacts(probes ?? hostProbes(env, { fresh: req.fresh === true }));
  return assessBuildMode(facts, { isolation: req.isolation, forceInPlace: req.forceInPlace === true || forceInPlaceFromEnv(env) });
}
