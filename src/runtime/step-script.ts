import { MASKED_PATHS, READONLY_PATHS } from './capabilities.js';
import { DEFAULT_CAPABILITIES } from './capabilities.js';
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

export interface StepScriptInput {
  tools: ScriptTools;
  /** Temp dir of the step (setup log, marker). */
  tmp: string;
  /** Where the rootfs is mounted (an empty dir in tmp). */
  root: string;
  rootfs: RootfsMount;
  /** Sets up /proc /sys /dev, masks; false in oci mode (the runtime does it). */
  containerMounts: boolean;
  /** /etc files and RUN --mount things (chroot mode). */
  mounts: readonly ScriptMount[];
  hostname: string | undefined;
  loopbackUp: boolean;
  /** /sys cannot be a fresh sysfs (user namespace without a new netns). */
  bindSys: boolean;
  singleIdMap: boolean;
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
  const R = '"$R"';
  const L: string[] = [];
  L.push('set -e', `R=${shq(i.root)}`, `exec 4>&2 2>${shq(i.tmp + '/setup.err')}`);
  if (i.rootfs.plan) {
    const p = i.rootfs.plan;
    if (p.cwd) L.push(`cd ${shq(p.cwd)}`);
    if (p.type === 'overlay') L.push(`${m} -t overlay overlay -o ${shq(p.options.join(','))} ${R}`);
    else L.push(`${shq(t.fuseOverlayfs ?? 'fuse-overlayfs')} -o ${shq(p.options.join(','))} ${R}`);
    L.push('cd /');
  } else if (i.rootfs.dir) {
    L.push(`${m} --rbind ${shq(i.rootfs.dir)} ${R}`);
  }
  if (i.containerMounts) {
    L.push(`${m} -t proc -o nosuid,nodev,noexec proc ${R}/proc`);
    if (i.bindSys) L.push(`${m} --rbind /sys ${R}/sys`, `${m} -o remount,bind,ro,nosuid,nodev,noexec ${R}/sys`);
    else L.push(`${m} -t sysfs -o ro,nosuid,nodev,noexec sysfs ${R}/sys`);
    L.push(`${m} -t tmpfs -o nosuid,strictatime,mode=755,size=65536k tmpfs ${R}/dev`);
    L.push(`cd ${R}/dev`);
    L.push('for d in null zero full random urandom tty; do : > $d; done');
    // One mount(8) per node: util-linux has no multi-bind.
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty']) L.push(`${m} --bind /dev/${d} ${d}`);
    L.push('mkdir pts shm mqueue', 'ln -s /proc/self/fd fd', 'ln -s /proc/self/fd/0 stdin', 'ln -s /proc/self/fd/1 stdout', 'ln -s /proc/self/fd/2 stderr', 'ln -s pts/ptmx ptmx', 'ln -s /proc/kcore core');
    L.push(`${m} -t devpts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=0620${i.singleIdMap ? '' : ',gid=5'} devpts pts || true`);
    L.push(`${m} -t tmpfs -o nosuid,nodev,noexec,mode=1777,size=65536k shm shm`);
    L.push(`${m} -t mqueue -o nosuid,nodev,noexec mqueue mqueue || rmdir mqueue`);
    L.push('cd /');
  }
  for (const x of i.mounts) {
    const dst = `${R}${shq(x.target)}`;
    if (x.kind === 'tmpfs') L.push(`${m} -t tmpfs -o ${x.readonly ? 'ro,' : ''}nosuid,nodev,mode=1777${x.size ? `,size=${x.size}` : ''} tmpfs ${dst}`);
    else {
      L.push(`${m} --rbind ${shq(x.source)} ${dst}`);
      if (x.readonly) L.push(`${m} -o remount,bind,ro ${dst}`);
    }
  }
  if (i.containerMounts) {
    const masked = MASKED_PATHS.map(shq).join(' ');
    L.push(`for p in ${masked}; do if [ -d "$R$p" ]; then ${m} -t tmpfs -o ro,size=0 tmpfs "$R$p"; elif [ -e "$R$p" ]; then ${m} --bind /dev/null "$R$p"; fi; done`);
    const ro = READONLY_PATHS.map(shq).join(' ');
    L.push(`for p in ${ro}; do if [ -e "$R$p" ]; then ${m} --bind "$R$p" "$R$p" && ${m} -o remount,bind,ro,nosuid,nodev,noexec "$R$p"; fi; done`);
  }
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
