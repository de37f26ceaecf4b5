import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatPlatform, type Platform } from '../oci/index.js';
import type { Plan, PlanWarning } from '../plan/types.js';
import { keepNewestFiles } from '../context/hash-cache.js';
import { atomicWrite } from './cache.js';

/** A base image a plan was made with: the plan holds only while (ref, platform) still names `digest`. */
export interface PlannedBase {
  ref: string;
  /** `os/arch[/variant]`. */
  platform: string;
  digest: string;
}

/** What a rebuild needs instead of parsing and planning again. */
export interface RememberedPlan {
  /** Warnings of the first plan (the ones a build prints). */
  warnings: PlanWarning[];
  /** Every base of `plan`'s stages, as resolved when it was made. */
  bases: PlannedBase[];
  /** The plan made with the bases' configs, cache keys of context files still pending. */
  plan: Plan;
}

/** The inputs a plan is a function of (besides the base images, checked by digest). */
export interface PlanInputs {
  text: string;
  /** Dockerfile name as messages show it. */
  name: string;
  target?: string;
  targetPlatform: Platform;
  buildPlatform: Platform;
  /** --timestamp / SOURCE_DATE_EPOCH: part of the plan's base keys. */
  timestamp?: number;
}

interface PlanFile extends RememberedPlan {
  v: number;
  key: string;
}

const VERSION = 1;
const MAX_PLANS = 256;

let codeId: string | null | undefined;
/**
 * This build of slipway: the file this module runs from (a tsc output or the bundle, both
 * rewritten by every build), by path, inode, size and mtime. Null when it cannot be told:
 * then nothing is remembered, so a plan never outlives the planner that made it.
 */
function codeIdentity(): string | null {
  if (codeId === undefined) {
    try {
      const file = fileURLToPath(import.meta.url);
      const st = statSync(file);
      codeId = `${file}:${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      codeId = null;
    }
  }
  return codeId;
}

/** Whether the bases resolved now are the ones a remembered plan was made with. */
export function sameBases(a: readonly PlannedBase[], b: readonly PlannedBase[]): boolean {
  return a.length === b.length && a.every((x, i) => x.ref === b[i]?.ref && x.platform === b[i]?.platform && x.digest === b[i]?.digest);
}

/**
 * Plans of earlier builds under `<root>/cache/plans/`, by a hash of the Dockerfile text,
 * target, platforms and the running slipway code: a fully cached rebuild skips parsing
 * and planning (the first run of that code costs more than the rest of the build). Builds
 * with --build-arg values are not remembered (the plan holds the values). Bounded to the
 * newest `max` files (default 256).
 */
export class PlanCache {
  constructor(readonly dir: string, private readonly max = MAX_PLANS) {}

  /** The key of these inputs, or undefined when plans are not remembered (unknown code identity). */
  static key(inputs: PlanInputs): string | undefined {
    const code = codeIdentity();
    if (code === null) return undefined;
    const h = createHash('sha256');
    h.update(JSON.stringify([VERSION, code, inputs.name, inputs.target ?? '', formatPlatform(inputs.targetPlatform), formatPlatform(inputs.buildPlatform), inputs.timestamp ?? null]));
    h.update('\n');
    h.update(inputs.text);
    return h.digest('hex');
  }

  private path(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  get(key: string): RememberedPlan | undefined {
    try {
      // sync: a few KB, read before anything else of the build runs
      const f = JSON.parse(readFileSync(this.path(key), 'utf8')) as Partial<PlanFile>;
      if (f.v !== VERSION || f.key !== key || !Array.isArray(f.bases) || !Array.isArray(f.warnings) || typeof f.plan !== 'object' || f.plan === null) return undefined;
      return { warnings: f.warnings, bases: f.bases, plan: f.plan };
    } catch {
      return undefined;
    }
  }

  async put(key: string, entry: RememberedPlan): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file: PlanFile = { v: VERSION, key, ...entry };
    await atomicWrite(this.path(key), JSON.stringify(file));
    await keepNewestFiles(this.dir, this.max, /^[0-9a-f]{64}\.json$/);
  }
}
