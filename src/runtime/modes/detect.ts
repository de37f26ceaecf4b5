import { assessBuildMode, forceInPlaceFromEnv, type BuildModeReport, type ModeRequest } from './assess.js';
import { gatherEnvironmentFacts, hostProbes, type EnvironmentProbes } from './environment-probe.js';

/**
 * The build mode this machine gives (1 rootless, 2 in-place, 3 no RUN) and every
 * reason the better ones are unavailable. `forceInPlace` also reads
 * SLIPWAY_FORCE_IN_PLACE from `env`. Throws BuildModeUnavailableError or
 * InPlaceRefusedError when `isolation` asks for what cannot be had.
 */
export async function detectBuildMode(req: ModeRequest & { env?: Record<string, string | undefined> } = {}, probes?: EnvironmentProbes): Promise<BuildModeReport> {
  const env = req.env ?? process.env;
  const facts = await gatherEnvironmentFacts(probes ?? hostProbes(env));
  return assessBuildMode(facts, { isolation: req.isolation, forceInPlace: req.forceInPlace === true || forceInPlaceFromEnv(env) });
}
