/**
 * The light part of slipway's public API: what the CLI needs before it knows that it
 * will stay in this process. Errors (loaded with the CLI's entry), and the rootless
 * re-exec decision (build-mode detection and the user-namespace re-exec), whose modules
 * load only when rootlessReexec() is called. Importing this module loads none of the
 * heavy modules (store, registry client, dockerfile, plan, snapshot, build), so a rootless
 * `slipway build` decides to re-execute itself in a user namespace from a small outer
 * process. The CLI imports this module and src/index.ts, nothing else; the error classes
 * are the same bindings src/index.ts exports.
 */
export { SlipwayError, UsageError, errorMessage } from './oci/errors.js';
export { makeDirs } from './oci/make-dirs.js';
export { readTrusted, slipwayCacheDir } from './oci/private-cache.js';

/**
 * For a non-root process outside slipway's user namespace: detects the build mode and,
 * when it is mode 1, re-executes `argv` in a user namespace (never returns then). Returns
 * at once inside the namespace; returns without acting when detection fails (the command
 * detects again and reports the problem with its context).
 */
export async function rootlessReexec(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const [{ USERNS_ENV, ensureUserNamespace }, { detectBuildMode }] = await Promise.all([import('./runtime/userns.js'), import('./runtime/modes/detect.js')]);
  if (env[USERNS_ENV]) return;
  let mode: number;
  try {
    mode = (await detectBuildMode({ env })).mode;
  } catch {
    return;
  }
  if (mode === 1) await ensureUserNamespace(argv, env);
}
