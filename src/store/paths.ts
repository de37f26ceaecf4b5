import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/**
 * The local state directory: `--root DIR`, else `$XDG_DATA_HOME/slipway`, else
 * `~/.local/share/slipway`. Always an absolute path.
 */
export function localStoreRoot(env: NodeJS.ProcessEnv, rootFlag?: string): string {
  if (rootFlag !== undefined && rootFlag !== '') return resolve(rootFlag);
  const xdg = env['XDG_DATA_HOME'];
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'slipway');
  const home = env['HOME'] !== undefined && env['HOME'] !== '' ? env['HOME'] : homedir();
  return join(home, '.local', 'share', 'slipway');
}

/** Where each subsystem keeps its state under the root. One place, so nobody invents a second. */
export interface StorePaths {
  root: string;
  /** The blob store: an OCI image layout (oci-layout, index.json, blobs/). */
  oci: string;
  /** Unpacked layers by diffID (overlay lower dirs). */
  layers: string;
  /** Build cache metadata. */
  cache: string;
  /** Scratch space on the same filesystem (container rootfs, temp files). */
  tmp: string;
}

export function storePaths(root: string): StorePaths {
  return {
    root,
    oci: join(root, 'oci'),
    layers: join(root, 'layers'),
    cache: join(root, 'cache'),
    tmp: join(root, 'tmp'),
  };
}
