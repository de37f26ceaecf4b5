import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMountInfo } from './mountinfo.js';

/** Paths an in-place build never touches: neither wiped, nor written by a layer, nor captured in a diff. */
export const IN_PLACE_ALWAYS_KEPT = ['/proc', '/sys', '/dev', '/.dockerenv', '/run/.containerenv'] as const;

function norm(p: string): string {
  const n = posix.normalize(`/${p}`);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * The set of kept paths, as absolute image paths. `isKept(p)`: p is a kept path
 * or below one. `holdsKept(p)`: p is a proper ancestor of a kept path (it must
 * stay a directory and may only be emptied around what is kept).
 */
export class KeepSet {
  readonly paths: readonly string[];
  private readonly set: Set<string>;
  private readonly ancestors: Set<string>;

  constructor(paths: readonly string[]) {
    const all = [...new Set(paths.map(norm))].filter((p) => p !== '/').sort();
    // drop paths already below another kept path
    this.paths = all.filter((p) => !all.some((q) => q !== p && p.startsWith(`${q}/`)));
    this.set = new Set(this.paths);
    this.ancestors = new Set();
    for (const p of this.paths) {
      let d = posix.dirname(p);
      while (true) {
        this.ancestors.add(d);
        if (d === '/') break;
        d = posix.dirname(d);
      }
    }
  }

  isKept(path: string): boolean {
    let p = norm(path);
    while (p !== '/') {
      if (this.set.has(p)) return true;
      p = posix.dirname(p);
    }
    return false;
  }

  holdsKept(path: string): boolean {
    return this.ancestors.has(norm(path));
  }
}

/** Mount points other than `/` (volumes, /etc/hosts bind mounts, service-account tokens ...). */
export function mountPointsOf(mountinfo: string): string[] {
  return parseMountInfo(mountinfo)
    .map((m) => m.mountPoint)
    .filter((p) => p !== '/');
}

/**
 * Directory slipway's own code lives in: the package root (dist/, bin/, its
 * node_modules/), or the node_modules dir holding it, where npm put its
 * dependencies beside it.
 */
export function slipwayInstallDir(): string {
  const pkg = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
  return posix.basename(posix.dirname(pkg)) === 'node_modules' ? posix.dirname(pkg) : pkg;
}

export interface KeepInput {
  mountinfo: string;
  /** The store root, the build context, output destinations: whatever the build reads or writes outside the image. */
  extra?: readonly string[];
  /** SLIPWAY_IN_PLACE_KEEP (colon-separated) and the like. */
  env?: Record<string, string | undefined>;
  installDir?: string;
}

/** Everything an in-place build must leave alone, Kaniko's ignore list in slipway's terms. */
export function inPlaceKeepSet(input: KeepInput): KeepSet {
  const fromEnv = (input.env?.SLIPWAY_IN_PLACE_KEEP ?? '').split(':').filter((p) => p.startsWith('/'));
  return new KeepSet([
    ...IN_PLACE_ALWAYS_KEPT,
    ...mountPointsOf(input.mountinfo),
    input.installDir ?? slipwayInstallDir(),
    ...(input.extra ?? []),
    ...fromEnv,
  ]);
}
