/**
 * Simulated locked-down CI environments on the test machine (root only).
 *
 *   runLockedDown(kind, args, opts) runs the installed slipway CLI (the npm-packed
 *   build from installForTestUser) in a throwaway "container" made of:
 *     - a private mount + PID + cgroup namespace;
 *     - an overlay of the host root (lower "/", upper on a tmpfs), so anything
 *       written to "/" (an in-place build replaces it!) vanishes with the run;
 *     - fresh /proc, /dev and /sys bound from the host, the given dirs bound at
 *       their own paths (context, store, outputs: mount points, like CI volumes);
 *     - pivot_root into it (not chroot: the kernel refuses new user namespaces
 *       to chrooted processes, which would fake the result);
 *     - a user namespace with an identity ID map in which
 *       /proc/sys/user/max_user_namespaces is 0 (so `unshare --user` fails with
 *       ENOSPC inside, as with the sysctl on a host) and CAP_SYS_ADMIN is
 *       dropped from the bounding set (so no mount namespace either, as under
 *       Docker's default profile).
 *   kinds:
 *     container  root, /.dockerenv present: mode 2 (in-place) is the best one.
 *     host       root, no container marker at all: in place must be refused.
 *     nonroot    the user `slipway-nosub` (no /etc/subuid range) in the container: mode 3.
 *   slipway runs from a self-contained bundle (node + its shared libraries, run
 *   through the bundled dynamic loader) bound into the container, because an
 *   in-place build deletes the container's own /usr and /lib, as Kaniko's does.
 *
 *   lockedDownAvailable() is null when this works here, else why not.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { BIN, type CliResult } from '../helpers/cli.js';
import { collect, ensureTestUser, installForTestUser, NOSUB_USER } from './rootless.js';
import { haveTool } from './tools.js';

export type LockedDownKind = 'container' | 'host' | 'nonroot';

/**
 * Whether `slipway build` uses the build modes (src/runtime/modes) yet: its --help offers
 * --force-in-place once the CLI detects the mode and the executor takes the in-place backend.
 * Until then the build e2e tests of the simulation skip (and fail under CI=true).
 */
export function buildModesWired(): string | null {
  let help = '';
  try {
    help = execFileSync(process.execPath, [BIN, 'build', '--help'], { encoding: 'utf8' });
  } catch {
    return 'the CLI is not built (npm run build)';
  }
  return help.includes('--force-in-place') ? null : 'slipway build has no --isolation=none / --force-in-place yet (executor hook for src/runtime/modes missing)';
}

export function lockedDownAvailable(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root (the simulation needs mount namespaces and pivot_root)';
  for (const t of ['unshare', 'setpriv', 'pivot_root', 'mount', 'umount', 'ldd', 'useradd', 'setfattr']) if (!haveTool(t)) return `${t} is not installed`;
  return null;
}

let bundle: string | undefined;

/** node and the shared libraries it loads, in one dir: survives the deletion of /usr and /lib. */
export function nodeBundle(): string {
  if (bundle) return bundle;
  const dir = `/tmp/slipway-test-node-bundle-${process.version}`;
  if (!existsSync(join(dir, '.done'))) {
    const tmp = mkdtempSync('/tmp/slipway-test-node-bundle-tmp-');
    mkdirSync(join(tmp, 'bin'));
    mkdirSync(join(tmp, 'lib'));
    copyFileSync(process.execPath, join(tmp, 'bin', 'node'));
    chmodSync(join(tmp, 'bin', 'node'), 0o755);
    const ldd = execFileSync('ldd', [process.execPath], { encoding: 'utf8' });
    for (const line of ldd.split('\n')) {
      const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s/.exec(line);
      if (!m) continue;
      const src = m[1] as string;
      const name = /ld-linux/.test(src) ? 'ld.so' : basename(src);
      copyFileSync(src, join(tmp, 'lib', name));
      chmodSync(join(tmp, 'lib', name), 0o755);
    }
    execFileSync('chmod', ['-R', 'a+rX', tmp]);
    chmodSync(tmp, 0o755);
    writeFileSync(join(tmp, '.done'), process.version);
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another worker won
    }
  }
  bundle = dir;
  return dir;
}

const STAGE1 = `
set -eu
T="$SIM_DIR"
mount -t tmpfs -o mode=755 tmpfs "$T"
mkdir "$T/upper" "$T/work" "$T/root" "$T/mask"
# a thin layer of empty opaque dirs over the host's bulky ones: a small container
for d in $SIM_MASK; do mkdir -p "$T/mask/$d"; setfattr -n trusted.overlay.opaque -v y "$T/mask/$d"; done
chmod 1777 "$T/mask/tmp"; chmod 700 "$T/mask/root"
mount -t overlay overlay -o "lowerdir=$T/mask:/,upperdir=$T/upper,workdir=$T/work" "$T/root"
R="$T/root"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount --rbind /sys "$R/sys"
for b in $SIM_BINDS; do mkdir -p "$R$b"; mount --bind "$b" "$R$b"; done
if [ "$SIM_KIND" = host ]; then rm -f "$R/.dockerenv" "$R/run/.containerenv"; else touch "$R/.dockerenv"; fi
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
unshare --user sh -c 'while [ -z "$(cat /proc/self/gid_map)" ]; do sleep 0.01; done; exec sh -c "$SIM_STAGE3" sh "$@"' sh "$@" &
pid=$!
me=$(readlink /proc/self/ns/user)
while [ "$(readlink /proc/$pid/ns/user)" = "$me" ]; do sleep 0.01; done
echo "0 0 4294967295" > /proc/$pid/uid_map
echo "0 0 4294967295" > /proc/$pid/gid_map
wait $pid
`;

// runs after the ID map exists (a fresh exec: capabilities are granted at exec)
const STAGE3 = `
echo 0 > /proc/sys/user/max_user_namespaces || exit 97
if [ "$SIM_KIND" = nonroot ]; then
  exec setpriv --reuid "$SIM_USER" --regid "$SIM_USER" --init-groups --bounding-set -sys_admin --inh-caps -sys_admin -- env -i $SIM_ENV "$@"
fi
exec setpriv --bounding-set -sys_admin --inh-caps -sys_admin -- env -i $SIM_ENV "$@"
`;

/** Host dirs that the simulated container shows empty (caches, docs, the repo): a wipe of "/" stays quick. */
const MASK = ['root', 'tmp', 'home', 'work', 'opt', 'srv', 'var/cache', 'var/lib', 'var/tmp', 'var/log', 'usr/share', 'usr/include', 'usr/lib/google-cloud-sdk', 'usr/lib/python3', 'usr/lib/node_modules', 'usr/local'];

export interface LockedDownOptions {
  /** Host dirs bound at the same path (space-free paths): the context, the store, outputs, oci: layouts. */
  binds?: readonly string[];
  /** Extra environment (the simulation starts from an empty one). */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** The command line that runs the installed CLI through the node bundle. */
export async function slipwayArgv(args: readonly string[]): Promise<string[]> {
  const bin = await installForTestUser();
  const b = nodeBundle();
  return [join(b, 'lib', 'ld.so'), '--library-path', join(b, 'lib'), join(b, 'bin', 'node'), bin, ...args];
}

/** Runs `argv` (use slipwayArgv) inside a simulated environment of `kind`. */
export async function runInLockedDown(kind: LockedDownKind, argv: readonly string[], opts: LockedDownOptions = {}): Promise<CliResult> {
  // the install dir with its node_modules (dependencies sit beside the package)
  const install = dirname(dirname(dirname(await installForTestUser())));
  const simDir = mkdtempSync(join(tmpdir(), 'slipway-sim-'));
  const user = kind === 'nonroot' ? ensureTestUser(NOSUB_USER, false).name : '';
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: kind === 'nonroot' ? '/tmp' : '/root', ...opts.env };
  for (const [k, v] of Object.entries(env)) if (/\s/.test(k + v)) throw new Error(`simulation env ${k} must not contain spaces`);
  const binds = [nodeBundle(), install, ...(opts.binds ?? [])];
  for (const b of binds) if (/\s/.test(b)) throw new Error(`bind ${b} has a space`);
  try {
    const child = spawn('unshare', ['--mount', '--pid', '--cgroup', '--fork', '--kill-child', '--propagation', 'private', '--', 'bash', '-c', STAGE1, 'stage1', ...argv], {
      env: {
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        SIM_DIR: simDir,
        SIM_KIND: kind,
        SIM_USER: user,
        SIM_BINDS: binds.join(' '),
        SIM_ENV: Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' '),
        SIM_STAGE3: STAGE3,
        SIM_MASK: MASK.join(' '),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return await collect(child, opts.timeoutMs ?? 150_000);
  } finally {
    rmSync(simDir, { recursive: true, force: true });
  }
}

/** Runs the slipway CLI inside a simulated environment. */
export async function slipwayLockedDown(kind: LockedDownKind, args: readonly string[], opts: LockedDownOptions = {}): Promise<CliResult> {
  return runInLockedDown(kind, await slipwayArgv(args), opts);
}

/** A world-writable scratch dir (the non-root user writes its store and outputs there). */
export function openDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o777);
  return d;
}

/** Reads a file the simulation left in a bound dir. */
export function readOut(path: string): string {
  return readFileSync(path, 'utf8');
}
