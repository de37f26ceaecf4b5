import { readFileSync } from 'node:fs';
import type { Layer } from '../../image/index.js';
import { applyLayer, decompressed, writeLayer, type LayerResult, type WriteLayerOptions } from '../../snapshot/index.js';
import { portableOf } from '../../snapshot/diff-overlay.js';
import { readXattrsOf } from '../../snapshot/xattrs.js';
import { findHostTool } from '../host-tools.js';
import type { RunIO } from '../spec.js';
import { filterLayerTar } from './in-place-filter.js';
import { inPlaceKeepSet, type KeepSet } from './in-place-keep.js';
import { runInPlace, type InPlaceRunSpec } from './in-place-run.js';
import { RootSnapshot } from './in-place-scan.js';
import { wipeExceptKept } from './in-place-wipe.js';

export interface InPlaceExecutorOptions {
  /** The filesystem to build in: "/" in production, a scratch dir in tests. */
  root?: string;
  keep: KeepSet;
  onWarning?(message: string): void;
}

export interface InPlaceStepResult {
  exitCode: number;
  /** The step's changes as a layer (undefined: nothing changed, or the step failed). */
  layer: LayerResult | undefined;
}

/**
 * Mode 2, `--isolation=none`: the execution backend that builds over the
 * container's own root filesystem, with the same contract as the rootless
 * path (a stage's layers in, one step run, its changes out as a layer).
 *
 * The root always holds the layers of one image. `prepare(layers)` applies only
 * what is missing when the root already holds a prefix of them (the usual case:
 * COPY layers or cached steps added since the last RUN); otherwise (another
 * stage, a failed step, the container's own files at first use) it wipes the
 * root around the kept paths and applies every layer again. Each stage's
 * filesystem is therefore its layers in the store: switching stages restores it
 * exactly, which is where Kaniko loses files (kaniko#615, #3318). Steps are
 * serialized: there is one root.
 */
export class InPlaceExecutor {
  readonly root: string;
  readonly keep: KeepSet;
  private current: string[] | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly warn: (m: string) => void;

  constructor(opts: InPlaceExecutorOptions) {
    this.root = opts.root ?? '/';
    this.keep = opts.keep;
    this.warn = opts.onWarning ?? (() => undefined);
  }

  /**
   * The executor for a real build over "/": keeps /proc, /sys, /dev, every mount
   * point, slipway's install dir, `keep` (store root, context, outputs) and
   * SLIPWAY_IN_PLACE_KEEP.
   */
  static forBuild(opts: { keep: readonly string[]; env?: Record<string, string | undefined>; onWarning?(m: string): void }): InPlaceExecutor {
    const keep = inPlaceKeepSet({ mountinfo: readFileSync('/proc/self/mountinfo', 'utf8'), extra: opts.keep, ...(opts.env ? { env: opts.env } : {}) });
    return new InPlaceExecutor({ keep, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
  }

  /** Diff IDs of the layers the root holds now (undefined: unknown content). */
  get holding(): readonly string[] | undefined {
    return this.current;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Makes the root hold exactly `layers`, applied in order. */
  prepare(layers: readonly Layer[]): Promise<void> {
    return this.exclusive(() => this.prepareLocked(layers));
  }

  private async prepareLocked(layers: readonly Layer[]): Promise<void> {
    const want = layers.map((l) => l.diffId as string);
    const cur = this.current;
    let from = 0;
    if (cur !== undefined && cur.length <= want.length && cur.every((d, i) => want[i] === d)) {
      from = cur.length;
    } else {
      this.current = undefined;
      wipeExceptKept(this.root, '/', this.keep);
      this.current = [];
    }
    for (const layer of layers.slice(from)) {
      try {
        await this.apply(layer);
      } catch (e) {
        this.current = undefined;
        throw e;
      }
      this.current = [...(this.current ?? []), layer.diffId];
    }
  }

  private async apply(layer: Layer): Promise<void> {
    const name = layer.descriptor.digest;
    const d = await decompressed(await layer.open());
    const filtered = filterLayerTar(d.stream, {
      keep: this.keep,
      layer: name,
      dropXattrs: findHostTool('setfattr') === undefined,
      onWarning: this.warn,
      onWhiteoutHoldingKept: (p) => wipeExceptKept(this.root, p, this.keep),
    });
    await applyLayer(filtered, this.root, { layer: name, mode: 'flatten', onWarning: this.warn });
  }

  /**
   * Prepares the root for `layers`, runs the step in place and returns its
   * changes as a layer. A failed step leaves the root marked unknown (the next
   * prepare starts over).
   */
  runStep(layers: readonly Layer[], spec: InPlaceRunSpec, io: RunIO = {}, write: WriteLayerOptions = {}): Promise<InPlaceStepResult> {
    return this.exclusive(async () => {
      await this.prepareLocked(layers);
      const base = this.current ?? [];
      const snap = RootSnapshot.take(this.root, this.keep);
      this.current = undefined;
      const res = await runInPlace(this.root, spec, io, { onWarning: this.warn });
      if (res.exitCode !== 0) return { exitCode: res.exitCode, layer: undefined };
      const entries = snap.changes(res.excludedPaths);
      if (findHostTool('getfattr') !== undefined) {
        const real = entries.filter((e) => e.type !== 'whiteout' && e.type !== 'opaque');
        const host = (p: string) => (this.root === '/' ? `/${p}` : `${this.root}/${p}`);
        const xa = await readXattrsOf(real.map((e) => host(e.path))).catch(() => new Map<string, Map<string, Buffer>>());
        for (const e of real) {
          const x = xa.get(host(e.path));
          if (x === undefined) continue;
          const p = portableOf(x);
          if (p.size > 0) e.xattrs = p;
        }
      }
      const layer = await writeLayer(entries, write);
      this.current = layer ? [...base, layer.diffId] : base;
      return { exitCode: 0, layer };
    });
  }
}
