import { createRequire } from 'node:module';

const load = createRequire(import.meta.url);

/**
 * A Node builtin module, loaded when first asked for. A module imported at the top is loaded
 * (and compiled) at start-up by every command that reaches the importing file, which costs
 * 1–4 ms each for the big ones (child_process, worker_threads, tls) on a ~0.1 s command.
 * Use it where the builtin is needed only on some paths: `builtin<typeof import('node:tls')>('node:tls')`.
 */
export function builtin<T>(name: `node:${string}`): T {
  return load(name) as T;
}
