import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { posix } from 'node:path';
import { stepEnvironment } from '../env.js';
import { RuntimeSetupError, StepCancelledError } from '../errors.js';
import { RootfsView } from '../rootfs-view.js';
import type { RunIO, RunMount, RunSpec } from '../spec.js';
import { findHostTool } from '../host-tools.js';
import { resolveUser } from '../user.js';
import { signalNumber } from '../userns.js';

/**
 * One RUN step executed directly in this container (no namespaces): the runtime core's RunSpec
 * without a rootfs (it is "/") or a hostname (the container's own). Without a mount namespace,
 * bind/cache/secret mounts are copied in before the step and removed after (cache copied back),
 * and `network: 'none'` cannot be honoured (a warning says so).
 */
export type InPlaceRunSpec = Omit<RunSpec, 'rootfs' | 'hostname'>;

export interface InPlaceRunResult {
  exitCode: number;
  /** Image paths the step must not capture (mount targets), removed again after the step. */
  excludedPaths: string[];
}

function hostPath(root: string, p: string): string {
  return root === '/' ? p : p === '/' ? root : `${root}${p}`;
}

/** argv[0] looked up on the step's PATH inside the root (as execvp would inside the container). */
function lookPath(root: string, argv0: string, env: readonly string[]): string {
  if (argv0.includes('/')) return argv0;
  const path = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '';
  for (const dir of path.split(':')) {
    if (!dir.startsWith('/')) continue;
    const p = posix.join(dir, argv0);
    try {
      accessSync(hostPath(root, p), constants.X_OK);
      if (statSync(hostPath(root, p)).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return argv0;
}

interface PlacedMount {
  target: string;
  hidden: string | undefined;
  createdDirs: string[];
  syncBack: string | undefined;
}

/** Copies a mount's content into place (there is no mount namespace to bind it). */
function placeMount(root: string, view: RootfsView, m: RunMount, location: string): PlacedMount {
  const target = view.resolve(m.target, false).path;
  const host = hostPath(root, target);
  let hidden: string | undefined;
  if (existsSync(host) || isLink(host)) {
    hidden = `${host}.slipway-hidden-${randomBytes(4).toString('hex')}`;
    renameSync(host, hidden);
  }
  const { created } = view.ensureDir(posix.dirname(target), undefined, true);
  if (m.type === 'tmpfs') {
    mkdirSync(host, { mode: 0o1777 });
  } else {
    if (!m.source) throw new RuntimeSetupError(`${location}: a ${m.type} mount at ${m.target} needs a source`, 'pass source=HOSTPATH');
    if (m.type === 'cache') mkdirSync(m.source, { recursive: true });
    cpSync(m.source, host, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
  }
  return { target, hidden, createdDirs: created, syncBack: m.type === 'cache' && m.readonly !== true ? m.source : undefined };
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

function unplaceMount(root: string, pm: PlacedMount): void {
  const host = hostPath(root, pm.target);
  if (pm.syncBack) {
    rmSync(pm.syncBack, { recursive: true, force: true });
    if (existsSync(host)) cpSync(host, pm.syncBack, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
    else mkdirSync(pm.syncBack, { recursive: true });
  }
  rmSync(host, { recursive: true, force: true });
  if (pm.hidden) renameSync(pm.hidden, host);
  for (const d of [...pm.createdDirs].reverse()) {
    try {
      if (readdirSync(hostPath(root, d)).length === 0) rmdirSync(hostPath(root, d));
    } catch {
      /* already gone or not empty */
    }
  }
}

/**
 * Runs one step as a plain child process of slipway, with the step's user,
 * environment and working directory, over the container's own root
 * filesystem (Kaniko's model). The whole process group is killed when the
 * step ends or is cancelled. `root` is "/" in production; tests pass a chroot dir.
 */
export async function runInPlace(root: string, spec: InPlaceRunSpec, io: RunIO = {}, opts: { onWarning?(m: string): void } = {}): Promise<InPlaceRunResult> {
  const location = spec.location ?? 'RUN';
  if ((process.getuid?.() ?? 0) !== 0) throw new RuntimeSetupError(`${location}: in-place steps need root`, 'run the job as root in a throwaway container');
  if (io.signal?.aborted) throw new StepCancelledError(location);
  if (spec.network === 'none') opts.onWarning?.(`${location}: --network=none cannot be honoured without namespaces (in-place mode); the step shares the container's network`);
  const view = new RootfsView([root]);
  const user = resolveUser(view, spec.user ?? '', location);
  const env = stepEnvironment({ imageEnv: spec.env ?? [], ...(spec.args ? { args: spec.args } : {}), hostname: osHostname(), home: user.home });
  if (user.additionalGids.length > 0) opts.onWarning?.(`${location}: supplementary groups ${user.additionalGids.join(',')} are not applied in in-place mode`);
  const cwd = view.ensureDir(spec.cwd || '/', { uid: user.uid, gid: user.gid });
  const placed: PlacedMount[] = [];
  try {
    for (const m of spec.mounts ?? []) placed.push(placeMount(root, view, m, location));
    const file = lookPath(root, spec.argv[0] ?? '', env);
    const envObj = Object.fromEntries(env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    const [cmd, args, spawnOpts] =
      root === '/'
        ? [file, spec.argv.slice(1), { cwd: cwd.path, uid: user.uid, gid: user.gid }]
        : // tests: the same, chrooted into a directory (chroot(8) changes to / first, so cd in the image's shell)
          [
            findHostTool('chroot') ?? 'chroot',
            [`--userspec=${user.uid}:${user.gid}`, root, '/bin/sh', '-c', 'cd "$0" && exec "$@"', cwd.path, file, ...spec.argv.slice(1)],
            {},
          ];
    const exit = await new Promise<{ code: number; aborted: boolean }>((resolve, reject) => {
      const child = spawn(cmd as string, args as string[], { ...spawnOpts, env: envObj, stdio: ['ignore', 'pipe', 'pipe'], detached: true, argv0: spec.argv[0] });
      let aborted = false;
      const killGroup = (): void => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      };
      const onAbort = (): void => {
        aborted = true;
        killGroup();
      };
      io.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (d: Buffer) => io.stdout?.(d));
      child.stderr.on('data', (d: Buffer) => io.stderr?.(d));
      child.on('error', (e) => {
        io.signal?.removeEventListener('abort', onAbort);
        reject(new RuntimeSetupError(`${location}: starting ${spec.argv[0] ?? ''} failed: ${e.message}`, 'check that the command exists in the image (in-place mode runs it directly)', e));
      });
      child.on('close', (code, signal) => {
        io.signal?.removeEventListener('abort', onAbort);
        // the step ends with its main process: whatever it left running goes too
        killGroup();
        resolve({ code: code ?? 128 + signalNumber(signal), aborted });
      });
    });
    if (exit.aborted) throw new StepCancelledError(location);
    return { exitCode: exit.code, excludedPaths: placed.map((p) => p.target) };
  } finally {
    for (const pm of placed.reverse()) unplaceMount(root, pm);
  }
}
