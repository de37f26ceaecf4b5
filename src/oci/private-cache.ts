import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `$XDG_CACHE_HOME/slipway`, else `~/.cache/slipway`: what can always be rebuilt (V8 code
 * cache, host probe outcomes). Undefined without either variable as an absolute path.
 */
export function slipwayCacheDir(env: Record<string, string | undefined>): string | undefined {
  const base = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : env.HOME?.startsWith('/') ? join(env.HOME, '.cache') : undefined;
  return base === undefined ? undefined : join(base, 'slipway');
}

/**
 * The file's bytes when this uid owns it and neither group nor others may write it: the only
 * way cache files whose contents slipway acts on (compiled code, probe outcomes) are read.
 */
export function readTrusted(file: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== (process.getuid?.() ?? 0) || (st.mode & 0o022) !== 0) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
