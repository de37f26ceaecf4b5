import { rootlessReexec } from '../startup.js';

/** Flags that change the build-mode decision: with one of them the command decides itself, after full parsing. */
const MODE_FLAGS = ['--isolation', '--force-in-place', '--help', '-h'];

/**
 * The rootless re-exec, as early as possible: a non-root `slipway build` that will run in
 * build mode 1 re-executes itself in a user namespace here, before the command's module and
 * the heavy modules load, so the outer process (which only waits for its child) stays
 * small. Never returns in that case. Everything else returns at once and the command
 * decides as before (its own ensureUserNamespace call is then a no-op in the child).
 * Only the plain case is taken here: when an argument could change the mode (see
 * MODE_FLAGS) or parsing is needed to know, the command's own check runs instead.
 * Root, and every other command, return before the detection modules are even loaded.
 */
export async function reexecEarly(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const [name, ...rest] = argv;
  if (name !== 'build' || (process.getuid?.() ?? 0) === 0) return;
  if (rest.some((a) => MODE_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)) || a === '--')) return;
  await rootlessReexec(process.argv, env);
}
