import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import type { Layer } from '../image/index.js';
import { chainIds } from '../oci/index.js';
import { UnpackCache } from '../snapshot/index.js';

/**
 * Root filesystems for steps: overlay lower dirs from the snapshot unpack cache
 * (`<root>/layers/`, one dir per diffID) and flat read-only trees by chainID
 * (`<root>/tmp/flat/`) for the vfs driver, COPY --from and bind mounts. Flat
 * trees are built in a temp dir and renamed into place.
 */
export class RootfsCache {
  readonly unpack: UnpackCache;
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(layersDir: string, readonly flatDir: string, onWarning?: (m: string) => void) {
    this.unpack = new UnpackCache(layersDir, onWarning ? { onWarning } : {});
  }

  /** Lower dirs for `layers`, topmost first (overlay's lowerdir order). */
  lowers(layers: readonly Layer[]): Promise<string[]> {
    return this.unpack.lowerDirs(layers);
  }

  /**
   * Opaque dirs of each layer ("/data"), topmost first, as lowers() left them in the unpack
   * markers; undefined for layers unpacked by an older version (ask the layer index then).
   */
  opaqueDirs(layers: readonly Layer[]): Set<string>[] | undefined {
    return this.unpack.opaqueDirs(layers);
  }

  /** A flat root filesystem of `layers` (treat as read-only). */
  flat(layers: readonly Layer[]): Promise<string> {
    const chain = chainIds(layers.map((l) => l.diffId));
    const key = layers.length === 0 ? 'empty' : (chain[chain.length - 1] as string).replace(/^sha256:/, '');
    const final = join(this.flatDir, key);
    let p = this.inflight.get(final);
    if (!p) {
      p = (async () => {
        if (await stat(final).then(() => true, () => false)) return final;
        await mkdir(this.flatDir, { recursive: true });
        const t = await mkdtemp(join(this.flatDir, '.tmp-'));
        try {
          await rm(t, { recursive: true });
          await this.unpack.materialize(layers, t);
          await rename(t, final).catch(async (e: NodeJS.ErrnoException) => {
            if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
            await rm(t, { recursive: true, force: true });
          });
        } catch (e) {
          await rm(t, { recursive: true, force: true });
          throw e;
        }
        return final;
      })();
      this.inflight.set(final, p);
      p.catch(() => this.inflight.delete(final));
    }
    return p;
  }
}

/** `cp -a` keeps owners, modes, devices and hard links, which fs.cp does not. */
export function copyTree(from: string, to: string): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    execFile('cp', ['-a', '--reflink=auto', `${from}/.`, to], (err) => (err ? reject(err) : resolve())),
  );
}
