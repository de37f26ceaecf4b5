import { SlipwayError } from '../../oci/index.js';
import type { BuildModeReport, ModeBlocker } from './assess.js';

/** Mode 3 and the Dockerfile has RUN steps: one located line per step. */
export class RunNotPossibleError extends SlipwayError {
  constructor(readonly lines: readonly string[], blockers: readonly ModeBlocker[]) {
    super('RUN_NOT_POSSIBLE', lines.join('\n'), {
      hint:
        blockers.length > 1
          ? `every reason, with its fix: ${blockers.map((b) => `${b.reason} (fix: ${b.fix})`).join(' | ')}`
          : 'Dockerfiles without RUN (FROM, COPY, ADD and metadata only) build here; see "slipway info"',
      exitCode: 1,
    });
  }
}

/** The blocker a mode-3 user can act on: for root, the disposable-container gate; else why user namespaces fail. */
export function primaryBlocker(r: BuildModeReport): ModeBlocker | undefined {
  if (r.facts.uid === 0) {
    const gate = r.blockers.find((b) => b.code === 'NOT_DISPOSABLE');
    if (gate) return gate;
  }
  return r.blockers.find((b) => b.mode === 1) ?? r.blockers[0];
}

/** `Dockerfile:LINE: RUN needs a user namespace or root in a container: <reason>; fix: <fix>` for each location. */
export function runNotPossibleLines(r: BuildModeReport, locations: readonly string[]): string[] {
  const b = primaryBlocker(r);
  const reason = b?.reason ?? 'no user namespace can be made here';
  const fix = b?.fix ?? 'run "slipway info"';
  return locations.map((loc) => `${loc}: RUN needs a user namespace or root in a container: ${reason}; fix: ${fix}`);
}

/** Structural view of a plan: only what the check reads. */
export interface PlanLike {
  stages: readonly { steps: readonly { kind: string; location: { line: number; file?: string } }[] }[];
}

/** Locations ("Dockerfile:12") of every RUN step in the plan, in order. */
export function runStepLocations(plan: PlanLike, dockerfile: string): string[] {
  const out: string[] = [];
  for (const s of plan.stages) for (const st of s.steps) if (st.kind === 'run') out.push(`${dockerfile}:${st.location.line}`);
  return out;
}

/**
 * Throws RunNotPossibleError when the mode is 3 and the plan has RUN steps.
 * Call before pulling anything (and again after base images add ONBUILD steps).
 */
export function assertRunStepsPossible(r: BuildModeReport, plan: PlanLike, dockerfile: string): void {
  if (r.mode !== 3) return;
  const locs = runStepLocations(plan, dockerfile);
  if (locs.length > 0) throw new RunNotPossibleError(runNotPossibleLines(r, locs), r.blockers);
}
