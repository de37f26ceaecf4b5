import { lstat, readdir, rm, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { RUNTIME_EXCLUDED_PATHS, type MirroredDir, type TouchedDir } from '../../runtime/index.js';

export interface MountPointOwners {
  /** Owner of everything runStep creates (this process: root of its user namespace). */
  self: { uid: number; gid: number };
  /**
   * The step's user, which runStep gives the working directory it had to create;
   * asked for only when a created dir on the cwd chain is owned by someone else.
   */
  cwdOwner?: () => Promise<{ uid: number; gid: number }>;
}

/**
 * Which of the paths runStep created as mount points (`createdPaths`) are, after
 * the step, still exactly what runStep made, so the layer leaves them out: an
 * empty regular file 0644, or a dir 0755 holding nothing but such untouched
 * paths and the runtime's generated files; owner unchanged. Anything the step
 * wrote into, replaced, chmod'ed or chown'ed is kept, as `docker build` keeps it.
 * `top` is the step's writable layer (overlay upper dir, or the vfs rootfs).
 * `mirrored`: lower dirs runStep copied up to hold its mount points (/etc for
 * /etc/hosts); one is left out when its mode and owner are still what runStep
 * gave it and everything in it is left out too (nothing of the step's is in it).
 */
export async function untouchedMountPoints(top: string, created: readonly string[], cwd: string, owners: MountPointOwners, mirrored: readonly MirroredDir[] = []): Promise<string[]> {
  const mask = process.umask();
  const fileMode = 0o644 & ~mask;
  const dirMode = 0o755 & ~mask;
  const drop = new Set<string>(RUNTIME_EXCLUDED_PATHS);
  const cwdChain = new Set<string>();
  for (let d = posix.normalize('/' + cwd); d !== '/'; d = posix.dirname(d)) cwdChain.add(d);
  let cwdOwner: Promise<{ uid: number; gid: number }> | undefined;
  const ownerOk = async (p: string, uid: number, gid: number): Promise<boolean> => {
    if (uid === owners.self.uid && gid === owners.self.gid) return true;
    if (!cwdChain.has(p) || !owners.cwdOwner) return false;
    cwdOwner ??= owners.cwdOwner();
    const o = await cwdOwner.catch(() => undefined);
    return o !== undefined && o.uid === uid && o.gid === gid;
  };
  // deepest first: a dir's verdict needs its children's
  const copied = new Map(mirrored.map((m) => [posix.normalize('/' + m.path), m]));
  const paths = [...new Set([...created, ...copied.keys()].map((p) => posix.normalize('/' + p)))].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const p of paths) {
    if (drop.has(p)) continue;
    const host = join(top, p);
    const st = await lstat(host).catch(() => undefined);
    const m = copied.get(p);
    if (m !== undefined) {
      // gone (an overlay never removes a dir from its upper, but a vfs step may): the diff sees to it
      if (st === undefined || !st.isDirectory()) continue;
      if ((st.mode & 0o7777) !== m.mode || st.uid !== m.uid || st.gid !== m.gid) continue;
      const children = await readdir(host);
      if (children.every((c) => drop.has(posix.join(p, c)))) drop.add(p);
      continue;
    }
    if (st === undefined) {
      drop.add(p); // gone (removed by the step): nothing to leave out, nothing to keep
      continue;
    }
    if (!(await ownerOk(p, st.uid, st.gid))) continue;
    if (st.isFile()) {
      if (st.size === 0 && (st.mode & 0o7777) === fileMode && st.nlink === 1) drop.add(p);
    } else if (st.isDirectory()) {
      if ((st.mode & 0o7777) !== dirMode) continue;
      const children = await readdir(host);
      if (children.every((c) => drop.has(posix.join(p, c)))) drop.add(p);
    }
  }
  return paths.filter((p) => drop.has(p));
}

/**
 * vfs rootfs (a tree diff, not an overlay upper): removes the mount points the
 * layer leaves out (`dropped`, from untouchedMountPoints) and gives each dir
 * runStep put them in its old times back when the step did not change its
 * entries after runStep (mtime still `setupMtimeMs`), so the diff sees only
 * the step's changes. The rootfs is the step's scratch copy.
 */
export async function undoVfsMountPoints(rootfs: string, dropped: readonly string[], touched: readonly TouchedDir[]): Promise<void> {
  // decided before the removals, which move the mtimes again
  const restore: TouchedDir[] = [];
  for (const t of touched) {
    const st = await lstat(join(rootfs, t.path)).catch(() => undefined);
    if (st?.isDirectory() && st.mtimeMs === t.setupMtimeMs) restore.push(t);
  }
  for (const p of [...dropped].sort((a, b) => b.split('/').length - a.split('/').length)) {
    await rm(join(rootfs, p), { recursive: true, force: true });
  }
  for (const t of restore) await utimes(join(rootfs, t.path), t.atimeMs / 1000, t.mtimeMs / 1000);
}
