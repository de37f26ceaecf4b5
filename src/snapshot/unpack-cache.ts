import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Layer } from '../image/index.js';
import { type Digest, parseDigest } from '../oci/index.js';
import { type ApplyOptions, type ApplyResult, applyLayer } from './apply.js';
import { LayerCorruptError } from './errors.js';

export interface UnpackCacheOptions {
  onWarning?(message: string): void;
  limits?: ApplyOptions['limits'];
  /** Opaque xattr names written into lower dirs (default: by privilege, see applyLayer). */
  opaqueXattrs?: readonly string[];
}

const MARKER = 'unpacked.json';

/** What `unpacked.json` holds. */
export interface UnpackMarker {
  diffId: Digest;
  digest: Digest;
  entries: number;
  bytes: number;
  /** Root-relative opaque dirs ('' = the root), see ApplyResult.opaqueDirs. */
  opaqueDirs?: string[];
}

/**
 * Unpacked layers under a directory the store owns (its `layers/`), one dir
 * per diffID: `<dir>/sha256/<hex>/fs` holds that layer's files with overlay
 * whiteouts, ready as an overlay lower dir; `<dir>/sha256/<hex>/unpacked.json`
 * marks it complete. Each layer is unpacked once, into a temp dir renamed into
 * place, so a killed build or two concurrent builds never see half a layer.
 */
export class UnpackCache {
  private readonly inflight = new Map<string, Promise<string>>();
  /** Opaque dirs per diffID, from markers read (or written) by this process. */
  private readonly opaque = new Map<string, readonly string[]>();

  constructor(readonly dir: string, private readonly opts: UnpackCacheOptions = {}) {}

  private pathOf(diffId: Digest): string {
    const { algorithm, hex } = parseDigest(diffId);
    return join(this.dir, algorithm, hex);
  }

  /** The lower dir of a layer if it is already unpacked. */
  lookup(diffId: Digest): string | undefined {
    const p = this.pathOf(diffId);
    return existsSync(join(p, MARKER)) ? join(p, 'fs') : undefined;
  }

  /**
   * Unpacks `layer` (once) and returns its dir. `lowers` are the dirs of the
   * layers below it, nearest first: hard links into earlier layers are copied
   * from there.
   */
  async ensure(layer: Layer, lowers: readonly string[] = []): Promise<string> {
    const hit = this.lookup(layer.diffId);
    if (hit !== undefined) return hit;
    let p = this.inflight.get(layer.diffId);
    if (p === undefined) {
      p = this.unpack(layer, lowers).finally(() => this.inflight.delete(layer.diffId));
      this.inflight.set(layer.diffId, p);
    }
    return p;
  }

  private async unpack(layer: Layer, lowers: readonly string[]): Promise<string> {
    const final = this.pathOf(layer.diffId);
    const tmp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    await mkdir(join(tmp, 'fs'), { recursive: true, mode: 0o755 });
    try {
      const r = await applyLayer(await layer.open(), join(tmp, 'fs'), {
        layer: layer.descriptor.digest,
        mode: 'overlay',
        lowerDirs: lowers,
        ...(this.opts.onWarning ? { onWarning: this.opts.onWarning } : {}),
        ...(this.opts.limits ? { limits: this.opts.limits } : {}),
        ...(this.opts.opaqueXattrs ? { opaqueXattrs: this.opts.opaqueXattrs } : {}),
      });
      checkDiffId(r, layer);
      const marker: UnpackMarker = { diffId: layer.diffId, digest: layer.descriptor.digest, entries: r.entries, bytes: r.bytes, opaqueDirs: r.opaqueDirs };
      await writeFile(join(tmp, MARKER), `${JSON.stringify(marker)}\n`);
      this.opaque.set(layer.diffId, r.opaqueDirs);
      await mkdir(join(this.dir, parseDigest(layer.diffId).algorithm), { recursive: true });
      try {
        await rename(tmp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(join(final, MARKER))) {
          await rm(tmp, { recursive: true, force: true });
        } else if (code === 'ENOTEMPTY' || code === 'EEXIST') {
          // a stale incomplete dir (no marker): replace it
          await rm(final, { recursive: true, force: true });
          await rename(tmp, final);
        } else throw e;
      }
      return join(final, 'fs');
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  /**
   * Overlay lower dirs for an image's layers (base first in `layers`), in
   * overlay's `lowerdir=` order: topmost layer first.
   */
  async lowerDirs(layers: readonly Layer[]): Promise<string[]> {
    const dirs: string[] = [];
    for (const l of layers) dirs.unshift(await this.ensure(l, dirs));
    return dirs;
  }

  /**
   * Opaque dirs of unpacked layers as container paths ("/", "/data"), topmost layer first
   * (lowerdir order), from their markers: what RootfsView needs to read lower dirs, whose
   * opaque xattrs Node cannot see, without a walk or reading the layers again. undefined
   * when a layer is not unpacked, or its marker predates the opaqueDirs field.
   */
  opaqueDirs(layers: readonly Layer[]): Set<string>[] | undefined {
    const out: Set<string>[] = [];
    for (const l of layers) {
      let dirs = this.opaque.get(l.diffId);
      if (dirs === undefined) {
        try {
          const m = JSON.parse(readFileSync(join(this.pathOf(l.diffId), MARKER), 'utf8')) as Partial<UnpackMarker>;
          if (!Array.isArray(m.opaqueDirs)) return undefined;
          dirs = m.opaqueDirs;
          this.opaque.set(l.diffId, dirs);
        } catch {
          return undefined;
        }
      }
      out.unshift(new Set(dirs.map((d) => `/${d}`)));
    }
    return out;
  }

  /**
   * A flat root filesystem in `dest` (created if missing, must be empty): every
   * layer applied in order with whiteouts resolved, for the copy/vfs driver
   * and chroot. Reads the layer blobs; does not need overlay.
   */
  async materialize(layers: readonly Layer[], dest: string): Promise<void> {
    mkdirSync(dest, { recursive: true, mode: 0o755 });
    if (readdirSync(dest).length > 0) throw new Error(`materializing a rootfs: ${dest} is not empty`);
    for (const l of layers) {
      const r = await applyLayer(await l.open(), dest, {
        layer: l.descriptor.digest,
        mode: 'flatten',
        ...(this.opts.onWarning ? { onWarning: this.opts.onWarning } : {}),
        ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      });
      checkDiffId(r, l);
    }
  }

  /** diffIDs present in the cache. */
  async list(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const alg of ['sha256', 'sha512']) {
      const d = join(this.dir, alg);
      if (!existsSync(d)) continue;
      for (const hex of readdirSync(d)) if (existsSync(join(d, hex, MARKER))) out.push(`${alg}:${hex}`);
    }
    return out;
  }

  /** Marker contents for a cached layer (opaqueDirs is missing in markers of older versions). */
  async info(diffId: Digest): Promise<UnpackMarker | undefined> {
    try {
      return JSON.parse(await readFile(join(this.pathOf(diffId), MARKER), 'utf8'));
    } catch {
      return undefined;
    }
  }
}

function checkDiffId(r: ApplyResult, layer: Layer): void {
  if (r.diffId !== layer.diffId) {
    throw new LayerCorruptError(layer.descriptor.digest, `uncompressed content hashes to ${r.diffId}, but the image config says ${layer.diffId}`);
  }
}
