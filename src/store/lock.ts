import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { StoreError } from './errors.js';

/** True when `pid` names a live process on this machine (EPERM means alive, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LockOptions {
  /** Give up after this long (default 120 s). */
  timeoutMs?: number;
  /** A lock file without a readable owner this old is stale (default 10 s). */
  orphanMs?: number;
}

/**
 * An exclusive lock between processes: `path` is created with O_EXCL and holds
 * "pid host nonce". A lock whose holder died (same host, pid gone) is broken;
 * breaking is itself serialized by `path.break` so two breakers cannot remove a
 * fresh lock.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const release = await acquire(path, opts);
  try {
    return await fn();
  } finally {
    await release();
  }
}

async function acquire(path: string, opts: LockOptions): Promise<() => Promise<void>> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const orphanMs = opts.orphanMs ?? 10_000;
  const me = `${process.pid} ${hostname()} ${randomBytes(8).toString('hex')}\n`;
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o644);
      try {
        await fh.writeFile(me);
      } finally {
        await fh.close();
      }
      return async () => {
        // only remove the lock if it is still ours
        const now = await readFile(path, 'utf8').catch(() => '');
        if (now === me) await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreError(`cannot create lock file ${path}: ${(e as Error).message}`, 'check that the store directory is writable', e);
      }
    }
    const holder = await readFile(path, 'utf8').catch(() => undefined);
    if (holder !== undefined && (await isStale(path, holder, orphanMs))) await breakLock(path, holder, orphanMs);
    if (Date.now() > deadline) {
      throw new StoreError(
        `timed out after ${Math.round(timeoutMs / 1000)} s waiting for lock ${path} (held by: ${holder?.trim() || 'unknown'})`,
        `if no other slipway process is running, remove ${path}`,
      );
    }
    await sleep(wait + Math.random() * wait);
    wait = Math.min(wait * 2, 100);
  }
}

async function isStale(path: string, holder: string, orphanMs: number): Promise<boolean> {
  const [pidText, host] = holder.trim().split(' ');
  const pid = Number(pidText);
  if (holder.endsWith('\n') && Number.isInteger(pid) && host !== undefined) {
    return host === hostname() && !pidAlive(pid);
  }
  // written half-way (the holder died between create and write): judge by age
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > orphanMs;
}

async function breakLock(path: string, holder: string, orphanMs: number): Promise<void> {
  const breaker = `${path}.break`;
  let fh;
  try {
    fh = await open(breaker, 'wx', 0o644);
  } catch {
    const st = await stat(breaker).catch(() => undefined);
    if (st !== undefined && Date.now() - st.mtimeMs > orphanMs) await unlink(breaker).catch(() => undefined);
    return;
  }
  try {
    await fh.close();
    const again = await readFile(path, 'utf8').catch(() => undefined);
    if (again === holder) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(breaker).catch(() => undefined);
  }
}
