/**
 * Rootless model (read this before touching extraction, overlay or diffing).
 *
 * slipway, like buildah and podman, re-executes itself inside a user namespace
 * when started by a non-root user, so that EVERYTHING after the CLI's first
 * lines (layer extraction with real ownership, overlay mounts, diffing, tar
 * writing, RUN steps) runs as uid 0 of that namespace:
 *
 *   - the CLI's `build` / `run-step` commands call `ensureUserNamespace(process.argv)`
 *     first. As real root it returns `{ mode: 'root' }` and nothing changes.
 *     As a non-root user it spawns `unshare --user --mount` running the same argv,
 *     applies the ID map with newuidmap/newgidmap (container 0 -> the caller,
 *     1..N -> the /etc/subuid and /etc/subgid ranges), forwards SIGINT/SIGTERM/SIGHUP,
 *     and exits with the child's status: the call never returns in the parent.
 *     In the child (env `_SLIPWAY_USERNS` set) it returns `{ mode: 'userns' }`.
 *   - Without a subordinate range, a single-ID map (0 -> the caller) is used and a
 *     warning says what to add to /etc/subuid; chown to other IDs then fails.
 *   - The child has a private mount namespace: every mount it makes disappears
 *     with it. Files it writes under the store are owned on the host by the
 *     caller (uid 0 inside) or by a subordinate uid (any other uid inside).
 *   - `inUserNamespace()` tells whether the process runs in a non-initial user
 *     namespace (re-exec'd child, or started under `unshare -r`/podman).
 *
 * Other modules must therefore never call chown/mknod/mount expecting host
 * root: they run as root of this namespace, whose power ends at its ID map.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants as osConstants, userInfo } from 'node:os';
import { RuntimeSetupError } from './errors.js';
import { findHostTool } from './host-tools.js';
import { forgetNamespaceProbes } from './modes/probe-cache.js';
import { fullIdMap, idMapArgs, parseIdMap, readSubIds, type IdMapping, type SubIdRange } from './subids.js';

/** Set in the environment of the re-executed child: "full" or "single" (the map kind). */
export const USERNS_ENV = '_SLIPWAY_USERNS';

export type UserNamespaceMode = 'root' | 'userns';

export interface UserNamespaceState {
  /** 'root': real root, no namespace. 'userns': root inside a user namespace. */
  mode: UserNamespaceMode;
  /** 'full' when the map covers subordinate ranges, 'single' for one ID. */
  map: 'full' | 'single' | 'host';
}

/** True when this process runs in a user namespace other than the initial one. */
export function inUserNamespace(): boolean {
  try {
    const map = parseIdMap(readFileSync('/proc/self/uid_map', 'utf8'));
    return !(map.length === 1 && map[0]!.containerID === 0 && map[0]!.hostID === 0 && map[0]!.size === 4294967295);
  } catch {
    return false;
  }
}

/** The current process's uid map (identity for the initial namespace). */
export function currentUidMap(): IdMapping[] {
  try {
    return parseIdMap(readFileSync('/proc/self/uid_map', 'utf8'));
  } catch {
    return [{ containerID: 0, hostID: 0, size: 4294967295 }];
  }
}

export function currentGidMap(): IdMapping[] {
  try {
    return parseIdMap(readFileSync('/proc/self/gid_map', 'utf8'));
  } catch {
    return [{ containerID: 0, hostID: 0, size: 4294967295 }];
  }
}

export interface RootlessPlan {
  user: string;
  uid: number;
  gid: number;
  subuids: SubIdRange[];
  subgids: SubIdRange[];
  uidMap: IdMapping[];
  gidMap: IdMapping[];
  full: boolean;
  /** What to run as root to get a full map, when it is missing. */
  fix: string | undefined;
}

/** Works out the ID maps a re-exec would use for the calling user. */
export function rootlessPlan(files = { subuid: '/etc/subuid', subgid: '/etc/subgid' }): RootlessPlan {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let user = String(uid);
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry: numeric */
  }
  const subuids = readSubIds(files.subuid, user, uid);
  const subgids = readSubIds(files.subgid, user, uid);
  const full = subuids.length > 0 && subgids.length > 0 && findHostTool('newuidmap') !== undefined && findHostTool('newgidmap') !== undefined;
  const fix = full ? undefined : subIdFix(user, subuids.length > 0, subgids.length > 0);
  return {
    user,
    uid,
    gid,
    subuids,
    subgids,
    uidMap: full ? fullIdMap(uid, subuids) : [{ containerID: 0, hostID: uid, size: 1 }],
    gidMap: full ? fullIdMap(gid, subgids) : [{ containerID: 0, hostID: gid, size: 1 }],
    full,
    fix,
  };
}

function subIdFix(user: string, haveUid: boolean, haveGid: boolean): string {
  const parts: string[] = [];
  if (!haveUid) parts.push(`echo "${user}:100000:65536" >> /etc/subuid`);
  if (!haveGid) parts.push(`echo "${user}:100000:65536" >> /etc/subgid`);
  if (findHostTool('newuidmap') === undefined || findHostTool('newgidmap') === undefined) parts.push('apt-get install uidmap');
  return `as root: ${parts.join(' && ')} (pick a start no other user's range overlaps)`;
}

export interface EnsureOptions {
  /** Where the single-ID-map warning goes (default: process.stderr). */
  warn?: (line: string) => void;
  /** Exit hook, replaceable in tests (default: process.exit). */
  exit?: (code: number) => never;
}

/**
 * Makes sure the rest of the process runs as root (real, or of a user namespace).
 * `argv` is process.argv (node binary, script, args...); `env` the environment to
 * hand on. As a non-root user this re-executes argv in a new user namespace and
 * never returns (the parent exits with the child's status).
 */
export async function ensureUserNamespace(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, opts: EnsureOptions = {}): Promise<UserNamespaceState> {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) {
    const inNs = inUserNamespace();
    const map = !inNs ? 'host' : env[USERNS_ENV] === 'single' || currentUidMap().reduce((n, m) => n + m.size, 0) === 1 ? 'single' : 'full';
    return { mode: inNs ? 'userns' : 'root', map };
  }
  if (env[USERNS_ENV]) {
    throw new RuntimeSetupError('re-executed in a user namespace but still not root there', 'check that newuidmap/newgidmap are setuid root (apt-get install --reinstall uidmap)');
  }
  const code = await reexecInUserNamespace(argv, env, opts);
  const exit = opts.exit ?? ((c: number) => process.exit(c));
  return exit(code);
}

/**
 * Runs argv inside a new user + mount namespace with the caller's ID map applied;
 * resolves to the exit status (128+N when killed by signal N). Signals to this
 * process are forwarded.
 */
export async function reexecInUserNamespace(argv: readonly string[], env: NodeJS.ProcessEnv, opts: EnsureOptions = {}): Promise<number> {
  const plan = rootlessPlan();
  const warn = opts.warn ?? ((l: string) => process.stderr.write(l + '\n'));
  if (!plan.full) {
    warn(
      `warning: no subordinate ID range for user "${plan.user}" in /etc/subuid and /etc/subgid (or newuidmap missing): ` +
        `running with a single-ID map, so chown to other users and apt-get will fail. Fix: ${plan.fix}`,
    );
  }
  const unshare = findHostTool('unshare');
  if (!unshare) throw new RuntimeSetupError('cannot create a user namespace: unshare not found', 'install util-linux');
  const setpriv = findHostTool('setpriv');
  // The child announces itself once its namespace exists, then waits for "go".
  const gate = 'printf "ready\\n" >&3 && read -r ok <&3 && [ "$ok" = go ] && exec 3>&- && exec "$@"';
  const inner = [unshare, '--user', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', gate, 'slipway-userns', ...argv];
  const cmd = setpriv ? [setpriv, '--pdeathsig', 'TERM', '--', ...inner] : inner;
  const child = spawn(cmd[0]!, cmd.slice(1), {
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
    env: { ...env, [USERNS_ENV]: plan.full ? 'full' : 'single' },
  });
  const forward = (sig: NodeJS.Signals) => () => {
    child.kill(sig);
  };
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  try {
    await gateChild(child, plan).catch((e: unknown) => {
      forgetNamespaceProbes(env); // a remembered "user namespaces work" is wrong now
      throw e;
    });
    return await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    });
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
  }
}

async function gateChild(child: ChildProcess, plan: RootlessPlan): Promise<void> {
  const sock = child.stdio[3] as import('node:net').Socket;
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('ready\n')) {
        sock.off('data', onData);
        resolve();
      }
    };
    sock.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new RuntimeSetupError(`creating a user namespace failed (unshare exited ${code})`, userNsHint())));
  });
  const pid = child.pid!;
  try {
    if (plan.full) {
      // independent maps: both helpers at once
      await Promise.all([runTool(findHostTool('newuidmap')!, [String(pid), ...idMapArgs(plan.uidMap)]), runTool(findHostTool('newgidmap')!, [String(pid), ...idMapArgs(plan.gidMap)])]);
    } else {
      writeFileSync(`/proc/${pid}/uid_map`, `0 ${plan.uid} 1\n`);
      writeFileSync(`/proc/${pid}/setgroups`, 'deny');
      writeFileSync(`/proc/${pid}/gid_map`, `0 ${plan.gid} 1\n`);
    }
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  sock.write('go\n');
  sock.end();
}

function userNsHint(): string {
  return 'unprivileged user namespaces may be disabled: sysctl -w kernel.unprivileged_userns_clone=1 (Debian) or user.max_user_namespaces=15000';
}

function runTool(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new RuntimeSetupError(`${file} ${args.join(' ')} failed: ${err.trim()}`, 'check /etc/subuid and /etc/subgid and that newuidmap/newgidmap are setuid root'));
    });
  });
}

/** Signal name -> number (for 128+N exit statuses). */
export function signalNumber(sig: NodeJS.Signals | null): number {
  if (!sig) return 0;
  return (osConstants.signals as Record<string, number | undefined>)[sig] ?? 0;
}
