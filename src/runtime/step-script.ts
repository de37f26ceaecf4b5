import { existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './capabilities.js';
import type { MountPlan } from './storage.js';

/** Host programs the step script calls (absolute paths: the script runs with a clean PATH). */
export interface ScriptTools {
  mount: string;
  env: string;
  setpriv: string;
  unshare: string;
  hostname: string | undefined;
  ip: string | undefined;
  fuseOverlayfs: string | undefined;
}

/** Shell-quotes one word. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Escapes one fstab field (space, tab, newline, backslash as octal). */
export function fstabEscape(s: string): string {
  return s.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

export interface RootfsMount {
  /** bind a plain dir, or mount an overlay plan. */
  dir?: string;
  plan?: MountPlan;
}

export interface ScriptMount {
  kind: 'bind' | 'tmpfs';
  source: string;
  /** Container path, symlinks resolved. */
  target: string;
  readonly: boolean;
  size?: number;
}

const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

/**
 * A /dev skeleton in a host dir (bound over the rootfs's /dev in chroot mode):
 * mount-point files for the device nodes, pts/shm/mqueue dirs, the usual links.
 */
export function writeDevSkeleton(dir: string): void {
  mkdirSync(dir, { mode: 0o755 });
  for (const d of DEVICES) writeFileSync(join(dir, d), '', { mode: 0o666 });
  for (const d of ['pts', 'shm', 'mqueue']) mkdirSync(join(dir, d));
  const links: [string, string][] = [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2'], ['ptmx', 'pts/ptmx'], ['core', '/proc/kcore']];
  for (const [name, target] of links) symlinkSync(target, join(dir, name));
}

export interface FstabInput {
  root: string;
  /** The /dev skeleton (writeDevSkeleton). */
  dev: string;
  bindSys: boolean;
  singleIdMap: boolean;
  mounts: readonly ScriptMount[];
}

/**
 * Every mount of a chroot-mode step after the rootfs, as one fstab for a single
 * `mount -a -T` (one process instead of ~35). Masked and read-only paths are
 * kernel paths, so whether they exist is checked on this host.
 */
export function containerFstab(i: FstabInput): string {
  const R = (p: string) => fstabEscape(i.root + p);
  const L: string[] = [];
  const add = (src: string, dst: string, type: string, opts: string) => L.push(`${fstabEscape(src)} ${R(dst)} ${type} ${opts} 0 0`);
  add('proc', '/proc', 'proc', 'nosuid,nodev,noexec');
  if (i.bindSys) add('/sys', '/sys', 'none', 'rbind,ro,nosuid,nodev,noexec');
  else add('sysfs', '/sys', 'sysfs', 'ro,nosuid,nodev,noexec');
  add(i.dev, '/dev', 'none', 'bind');
  for (const d of DEVICES) add(`/dev/${d}`, `/dev/${d}`, 'none', 'bind');
  add('devpts', '/dev/pts', 'devpts', `nosuid,noexec,newinstance,ptmxmode=0666,mode=0620${i.singleIdMap ? '' : ',gid=5'},nofail`);
  add('shm', '/dev/shm', 'tmpfs', 'nosuid,nodev,noexec,mode=1777,size=65536k');
  add('mqueue', '/dev/mqueue', 'mqueue', 'nosuid,nodev,noexec,nofail');
  for (const x of i.mounts) {
    if (x.kind === 'tmpfs') add('tmpfs', x.target, 'tmpfs', `${x.readonly ? 'ro,' : ''}nosuid,nodev,mode=1777${x.size ? `,size=${x.size}` : ''}`);
    else add(x.source, x.target, 'none', x.readonly ? 'rbind,ro' : 'rbind');
  }
  for (const p of MASKED_PATHS) {
    if (!existsSync(p)) continue;
    if (statSync(p).isDirectory()) add('tmpfs', p, 'tmpfs', 'ro,size=0,nofail');
    else add('/dev/null', p, 'none', 'bind,nofail');
  }
  for (const p of READONLY_PATHS) if (existsSync(p)) add(i.root + p, p, 'none', 'bind,ro,nosuid,nodev,noexec,nofail');
  return L.join('\n') + '\n';
}

export interface StepScriptInput {
  tools: ScriptTools;
  /** Temp dir of the step (setup log, marker). */
  tmp: string;
  /** Where the rootfs is mounted (an empty dir in tmp). */
  root: string;
  rootfs: RootfsMount;
  /** An fstab with the container's mounts (chroot mode), mounted after the rootfs. */
  fstab: string | undefined;
  hostname: string | undefined;
  loopbackUp: boolean;
  /** The main command line (already quoted words), run as PID 1's child. */
  main: string;
}

/**
 * The script PID 1 of the step's PID namespace runs: host /bin/sh, never
 * chrooted. It mounts the rootfs and the container's file systems (setup errors
 * go to tmp/setup.err), marks tmp/started, runs the main command in the
 * background and waits: `wait` reaps every child, adopted orphans included;
 * TERM/INT/HUP are forwarded to the main process; when it exits the script
 * exits with its status and the kernel kills the rest of the namespace.
 */
export function stepScript(i: StepScriptInput): string {
  const t = i.tools;
  const m = shq(t.mount);
  const L: string[] = [];
  L.push('set -e', `R=${shq(i.root)}`, `exec 4>&2 2>${shq(i.tmp + '/setup.err')}`);
  if (i.rootfs.plan) {
    const p = i.rootfs.plan;
    if (p.cwd) L.push(`cd ${shq(p.cwd)}`);
    if (p.type === 'overlay') L.push(`${m} -t overlay overlay -o ${shq(p.options.join(','))} "$R"`);
    else L.push(`${shq(t.fuseOverlayfs ?? 'fuse-overlayfs')} -o ${shq(p.options.join(','))} "$R"`);
    L.push('cd /');
  } else if (i.rootfs.dir) {
    L.push(`${m} --rbind ${shq(i.rootfs.dir)} "$R"`);
  }
  if (i.fstab !== undefined) L.push(`${m} -a -T ${shq(i.fstab)}`);
  if (i.hostname && t.hostname) L.push(`${shq(t.hostname)} ${shq(i.hostname)}`);
  if (i.loopbackUp && t.ip) L.push(`${shq(t.ip)} link set lo up`);
  L.push(`: > ${shq(i.tmp + '/started')}`, 'exec 2>&4 4>&-', 'set +e', 'cd /');
  L.push(`trap 'kill -TERM $pid 2>/dev/null' TERM INT HUP`);
  L.push(`${i.main} &`, 'pid=$!');
  L.push('while :; do wait $pid; st=$?; kill -0 $pid 2>/dev/null || break; done', 'exit $st');
  return L.join('\n') + '\n';
}

/** chroot mode: the main command, dropping to the user after chroot (host tools only). */
export function chrootMain(t: ScriptTools, o: { root: string; cwd: string; env: readonly string[]; argv: readonly string[]; uid: number; gid: number; groups: readonly number[]; singleIdMap?: boolean }): string {
  const caps = `-all,${DEFAULT_CAPABILITIES.map((c) => '+' + c.slice(4).toLowerCase()).join(',')}`;
  // A single-ID map denies setgroups(2): keep what the namespace has.
  const groups = o.singleIdMap ? '--keep-groups' : o.groups.length > 0 ? `--groups=${o.groups.join(',')}` : '--clear-groups';
  return [
    shq(t.env), '-i', ...o.env.map(shq),
    shq(t.setpriv), `--bounding-set=${caps}`, `--regid=${o.gid}`, groups, '--',
    shq(t.unshare), `--root=${shq(o.root)}`, `--wd=${shq(o.cwd)}`, `--setuid=${o.uid}`, '--',
    ...o.argv.map(shq),
  ].join(' ');
}
