import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { BuildContext } from '../context/index.js';
import { parseDockerfile, type ParsedDockerfile } from '../dockerfile/index.js';
import { SlipwayError } from '../oci/errors.js';
import { createPlan } from './create-plan.js';
import { resolveCacheKeys } from './resolve-keys.js';
import type { Plan, PlanOptions } from './types.js';

export interface PlanBuildOptions extends PlanOptions {
  /** Build context directory. */
  context: string;
  /** Dockerfile path; default `<context>/Dockerfile`. */
  file?: string;
  /** Dockerfile text (e.g. from stdin); `file` then only names it. */
  text?: string;
  /** Fill build-context content hashes into the cache keys (default true). */
  resolveKeys?: boolean;
}

export interface PlannedBuild {
  plan: Plan;
  dockerfile: ParsedDockerfile;
  context: BuildContext;
  /** Path of the Dockerfile read (undefined for text). */
  dockerfilePath?: string;
}

/**
 * Reads the Dockerfile and the context (.dockerignore), parses, plans and
 * (by default) resolves every cache key. Throws DockerfileErrors (all located
 * errors), UnknownTargetError, or a SlipwayError naming the file.
 */
export async function planBuild(options: PlanBuildOptions): Promise<PlannedBuild> {
  const path = options.text === undefined ? resolve(options.file ?? join(options.context, 'Dockerfile')) : undefined;
  let text = options.text;
  if (text === undefined) {
    try {
      text = await readFile(path as string, 'utf8');
    } catch (e) {
      throw new SlipwayError('DOCKERFILE_READ', `reading Dockerfile ${path}: ${(e as Error).message}`, { hint: 'pass the Dockerfile with -f PATH or put one in the context directory', exitCode: 2 });
    }
  }
  const context = await BuildContext.open(options.context, path !== undefined ? { dockerfile: path } : {});
  const dockerfile = parseDockerfile(text, { file: options.file !== undefined ? basename(options.file) : 'Dockerfile' });
  let plan = createPlan(dockerfile, options);
  if (options.resolveKeys !== false) plan = await resolveCacheKeys(plan, (sel) => context.hashSelection(sel));
  return { plan, dockerfile, context, ...(path !== undefined ? { dockerfilePath: path } : {}) };
}
