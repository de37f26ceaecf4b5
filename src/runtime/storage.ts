import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { RuntimeSetupError } from './errors.js';
import { findHostTool } from './host-tools.js';
import { environmentKey, machineCacheFile, recallMachineFact, rememberMachineFact } from './machine-cache.js';
import { inUserNamespace } from './userns.js';

export type StorageDriver = 'overlay' | 'fuse-overlayfs' | 'vfs';
export const STORAGE_DRIVERS: readonly StorageDriver[] = ['overlay', 'fuse-overlayfs', 'vfs'];

/** An overlay rootfs: read-only lowers (TOPMOST FIRST, as in lowerdir=), a writable upper, a work dir on the upper's filesystem. */
export interface OverlayLayout {
  lowers: readonly string[];
  upper: string;
  work: string;
}

/** How to mount an overlay layout: a description, not an action (see mountRootfs). */
export interface MountPlan {
  driver: Exclude<StorageDriver, 'vfs'>;
  /** mount(8) -t value, or the FUSE program for fuse-overlayfs. */
  type: 'overlay' | 'fuse-overlayfs';
  /** -o options (lowerdir/upperdir/workdir, relative to `cwd` when long). */
  options: string[];
  /** Directory the mount command must run in (relative lowerdirs keep the options under a page). */
  cwd: string | undefined;
  /**
   * Short symlinks [name, target] to create in `cwd` before mounting (writeMountLinks),
   * when even relative lowerdirs exceed a page: the containers-storage "l/" trick.
   */
  links: [string, string][];
  /**
   * How the kernel marks opaque directories in the upper dir, for the snapshotter:
   * overlay as real root uses trusted.overlay.opaque, in a user namespace
   * user.overlay.opaque (userxattr); fuse-overlayfs likewise. Whiteouts are 0:0 char devices.
   */
  opaqueXattr: 'trusted.overlay.opaque' | 'user.overlay.opaque' | 'user.fuseoverlayfs.opaque';
}

const PAGE_LIMIT = 3800;

/**
 * The mount description for an overlay layout under a driver. `linkDir` (an
 * empty dir of the caller's) is used for short symlinks when there are too many
 * long lowers for one page of mount options.
 */
export function overlayMountPlan(layout: OverlayLayout, driver: Exclude<StorageDriver, 'vfs'>, userns = inUserNamespace(), linkDir?: string): MountPlan {
  if (layout.lowers.length === 0) throw new RuntimeSetupError('overlay needs at least one lower dir', 'pass the unpacked base layers as lowers (an empty dir for FROM scratch)');
  let links: [string, string][] = [];
  const build = (base: string | undefined) => {
    const rel = (p: string) => (base ? relative(base, p) || '.' : p);
    const lowers = links.length > 0 ? links.map(([n]) => n) : layout.lowers.map(rel);
    const opts = [`lowerdir=${lowers.join(':')}`, `upperdir=${rel(layout.upper)}`, `workdir=${rel(layout.work)}`];
    // diffOverlay reads the upper dir as a plain change set, without redirect or metacopy xattrs:
    // as real root turn both off (kernels may default them on); `userxattr` already disables them
    // in a user namespace, where naming them is refused.
    if (driver === 'overlay') opts.push(...(userns ? ['userxattr'] : ['redirect_dir=off', 'metacopy=off']));
    return opts;
  };
  let options = build(undefined);
  let cwd: string | undefined;
  if (options.join(',').length > PAGE_LIMIT) {
    cwd = commonParent([...layout.lowers, layout.upper, layout.work]);
    options = build(cwd);
  }
  if (options.join(',').length > PAGE_LIMIT) {
    if (!linkDir) throw new RuntimeSetupError(`${layout.lowers.length} lower dirs do not fit in one page of overlay mount options`, 'pass a link dir to overlayMountPlan, or use --storage-driver=vfs');
    cwd = linkDir;
    links = layout.lowers.map((p, i) => [i.toString(36), p]);
    options = build(undefined);
  }
  const opaqueXattr = driver === 'overlay' ? (userns ? 'user.overlay.opaque' : 'trusted.overlay.opaque') : userns ? 'user.fuseoverlayfs.opaque' : 'trusted.overlay.opaque';
  return { driver, type: driver === 'overlay' ? 'overlay' : 'fuse-overlayfs', options, cwd, links, opaqueXattr };
}

/** Creates the plan's short lowerdir symlinks in its cwd (no-op without links). */
export function writeMountLinks(plan: MountPlan): void {
  if (plan.links.length === 0 || !plan.cwd) return;
  mkdirSync(plan.cwd, { recursive: true });
  for (const [name, target] of plan.links) symlinkSync(target, join(plan.cwd, name));
}

function commonParent(paths: readonly string[]): string {
  let parts = dirname(paths[0]!).split('/');
  for (const p of paths.slice(1)) {
    const q = p.split('/');
    let i = 0;
    while (i < parts.length && parts[i] === q[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join('/') || '/';
}

/** argv that mounts a plan at target (for the step's mount namespace or this process's). */
export function mountCommand(plan: MountPlan, target: string): string[] {
  if (plan.type === 'overlay') return [findHostTool('mount') ?? 'mount', '-t', 'overlay', 'overlay', '-o', plan.options.join(','), target];
  return [findHostTool('fuse-overlayfs') ?? 'fuse-overlayfs', '-o', plan.options.join(','), target];
}

/**
 * Mounts a plan at `target` in THIS process's mount namespace (rootless: the
 * private namespace of the re-executed slipway, gone when it exits).
 */
export async function mountRootfs(plan: MountPlan, target: string): Promise<void> {
  mkdirSync(target, { recursive: true });
  writeMountLinks(plan);
  const [cmd, ...args] = mountCommand(plan, target);
  await run(cmd!, args, plan.cwd, `mounting ${plan.driver} at ${target}`);
}

/** Unmounts what mountRootfs mounted (lazily, so a busy mount still goes). */
export async function unmountRootfs(target: string, plan?: Pick<MountPlan, 'type'>): Promise<void> {
  if (plan?.type === 'fuse-overlayfs' && findHostTool('fusermount3')) {
    await run(findHostTool('fusermount3')!, ['-u', '-z', target], undefined, `unmounting ${target}`).catch(() => undefined);
  }
  await run(findHostTool('umount') ?? 'umount', ['-l', target], undefined, `unmounting ${target}`).catch(() => undefined);
}

function run(cmd: string, args: string[], cwd: string | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(cwd ? { cwd } : {}) });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', (e) => reject(new RuntimeSetupError(`${what}: ${e.message}`, 'install util-linux / fuse-overlayfs', e)));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new RuntimeSetupError(`${what}: ${err.trim() || `exit ${code}`}`, 'try --storage-driver=vfs'))));
  });
}

export interface StorageDetection {
  driver: StorageDriver;
  /** Why this driver (and why not the better ones). */
  reason: string;
  forced: boolean;
}

let detected: StorageDetection | undefined;

/**
 * Picks the storage driver: overlay when the kernel mounts it here (a user
 * namespace needs 5.11+), else fuse-overlayfs, else vfs (copies). Probed once per process.
 */
export async function detectStorageDriver(forced?: string): Promise<StorageDetection> {
  if (forced) {
    if (!STORAGE_DRIVERS.includes(forced as StorageDriver)) {
      throw new RuntimeSetupError(`unknown storage driver "${forced}"`, `use one of: ${STORAGE_DRIVERS.join(', ')}`);
    }
    return { driver: forced as StorageDriver, reason: 'forced by --storage-driver', forced: true };
  }
  if (detected) return detected;
  // an earlier process in this same environment mounted overlay: no test mount again (successes only)
  const machine = machineCacheFile(process.env, 'storage-driver');
  const key = machine !== undefined ? environmentKey([findHostTool('unshare'), findHostTool('mount')]) : '';
  if (machine !== undefined && recallMachineFact<string>(machine, key) === 'overlay') {
    detected = { driver: 'overlay', reason: `kernel overlayfs mounts here (kernel ${release()}, remembered)`, forced: false };
    return detected;
  }
  const notes: string[] = [];
  const overlay = await probeOverlay();
  if (overlay === true) {
    detected = { driver: 'overlay', reason: `kernel overlayfs mounts here (kernel ${release()})`, forced: false };
    if (machine !== undefined) rememberMachineFact(machine, key, 'overlay');
  } else {
    notes.push(`overlay: ${overlay}`);
    const fuse = findHostTool('fuse-overlayfs');
    if (fuse && canOpen('/dev/fuse')) detected = { driver: 'fuse-overlayfs', reason: `${notes.join('; ')}; using ${fuse}`, forced: false };
    else {
      notes.push(fuse ? 'fuse-overlayfs: /dev/fuse missing or not readable and writable by this user' : 'fuse-overlayfs: not installed (apt-get install fuse-overlayfs)');
      detected = { driver: 'vfs', reason: `${notes.join('; ')}; copying layers instead`, forced: false };
    }
  }
  return detected;
}

function canOpen(dev: string): boolean {
  try {
    accessSync(dev, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** true, or the reason overlay cannot be mounted here. */
async function probeOverlay(): Promise<true | string> {
  try {
    if (!readFileSync('/proc/filesystems', 'utf8').includes('overlay')) return 'not in /proc/filesystems (modprobe overlay)';
  } catch {
    /* unknown: try */
  }
  const [maj = 0, min = 0] = release().split('.').map((n) => parseInt(n, 10));
  const uid = process.getuid?.() ?? 0;
  const userns = uid !== 0 || inUserNamespace();
  if (userns && (maj < 5 || (maj === 5 && min < 11))) return `kernel ${release()} < 5.11 cannot mount overlay in a user namespace`;
  const unshare = findHostTool('unshare');
  if (!unshare) return 'unshare not found';
  const dir = mkdtempSync(join(tmpdir(), 'slipway-ovl-probe-'));
  try {
    for (const d of ['l', 'u', 'w', 'm']) mkdirSync(join(dir, d));
    const plan = overlayMountPlan({ lowers: [join(dir, 'l')], upper: join(dir, 'u'), work: join(dir, 'w') }, 'overlay', userns);
    const args = [...(uid !== 0 ? ['--map-root-user'] : []), '--mount', '--', ...mountCommand(plan, join(dir, 'm'))];
    await run(unshare, args, undefined, 'probing overlay');
    return true;
  } catch (e) {
    return (e as Error).message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * vfs driver: a step's rootfs is a full copy (cp -a, reflinks where the
 * filesystem has them) of a merged root directory, e.g. the base image's layers
 * extracted in order into one dir. The snapshotter then diffs by full scan.
 * Run inside the user namespace so ownership is kept.
 */
export async function copyRootfsVfs(src: string, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  await run(findHostTool('cp') ?? 'cp', ['-a', '--reflink=auto', `${src}/.`, dest], undefined, `copying ${src} to ${dest} (vfs)`);
}
