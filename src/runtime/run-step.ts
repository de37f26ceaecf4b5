import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentHardLimit } from './capabilities.js';
import { stepEnvironment } from './env.js';
import { RuntimeSetupError, StepCancelledError } from './errors.js';
import { findHostTool } from './host-tools.js';
import { ociConfig, type OciMount } from './oci-config.js';
import { chooseOciRuntime } from './oci-runtime.js';
import { RootfsView, type MirroredDir } from './rootfs-view.js';
import { RUNTIME_EXCLUDED_PATHS, type Isolation, type RunIO, type RunSpec, type RuntimeOptions, type StepResult } from './spec.js';
import { chrootMain, containerFstab, shq, stepScript, writeDevSkeleton, type ScriptMount, type ScriptTools } from './step-script.js';
import { detectStorageDriver, overlayMountPlan, writeMountLinks, type MountPlan, type StorageDriver } from './storage.js';
import { resolveUser } from './user.js';
import { currentUidMap, inUserNamespace, signalNumber } from './userns.js';

/** Which isolation runStep would use with these options (oci when a runtime is installed). */
export async function chooseIsolation(opts: Pick<RuntimeOptions, 'isolation' | 'runtime' | 'stateDir'>): Promise<{ isolation: Isolation; runtime?: { path: string; name: string; reason: string } }> {
  if (opts.isolation === 'chroot') return { isolation: 'chroot' };
  const runtime = await chooseOciRuntime(opts.runtime, opts.stateDir);
  if (runtime) return { isolation: 'oci', runtime };
  if (opts.isolation === 'oci') throw new RuntimeSetupError('--isolation=oci needs an OCI runtime, and neither crun nor runc works here', 'apt-get install runc, or use --isolation=chroot');
  return { isolation: 'chroot' };
}

function hostTools(): ScriptTools {
  const need = (n: string, pkg: string) => {
    const p = findHostTool(n);
    if (!p) throw new RuntimeSetupError(`running a step needs "${n}", which is not installed`, `apt-get install ${pkg}`);
    return p;
  };
  return {
    mount: need('mount', 'mount'),
    env: need('env', 'coreutils'),
    setpriv: need('setpriv', 'util-linux'),
    unshare: need('unshare', 'util-linux'),
    hostname: findHostTool('hostname'),
    ip: findHostTool('ip'),
    fuseOverlayfs: findHostTool('fuse-overlayfs'),
  };
}

/**
 * Runs one step in a fresh container and resolves once every process of it is
 * gone, its mounts with it (they only ever exist in the step's own mount
 * namespace) and its temp dir removed. Must run as root: real, or of the user
 * namespace ensureUserNamespace() set up.
 */
export async function runStep(spec: RunSpec, io: RunIO = {}, opts: RuntimeOptions = {}): Promise<StepResult> {
  const location = spec.location ?? 'RUN';
  if ((process.getuid?.() ?? 0) !== 0) {
    throw new RuntimeSetupError(`${location}: running a step needs root or a user namespace`, 'call ensureUserNamespace(process.argv) first (the CLI does)');
  }
  if (io.signal?.aborted) throw new StepCancelledError(location);
  const log = opts.log ?? (() => undefined);
  const { isolation, runtime } = await chooseIsolation(opts);
  const tools = hostTools();
  const userns = inUserNamespace();
  const singleIdMap = userns && currentUidMap().reduce((n, m) => n + m.size, 0) === 1;

  const overlay = typeof spec.rootfs === 'string' ? undefined : spec.rootfs;
  let plan: MountPlan | undefined;
  let driver: StorageDriver | undefined;
  if (overlay) {
    driver = opts.storageDriver ?? (await detectStorageDriver()).driver;
    if (driver === 'vfs') throw new RuntimeSetupError(`${location}: the vfs storage driver takes a rootfs directory, not overlay layers`, 'copy the merged rootfs with copyRootfsVfs() and pass that directory');
  }
  const view = overlay ? new RootfsView([overlay.upper, ...overlay.lowers], [undefined, ...(spec.lowerOpaqueDirs ?? [])]) : new RootfsView([spec.rootfs as string]);
  const user = resolveUser(view, spec.user ?? '', location);
  const hostname = spec.hostname ?? randomBytes(6).toString('hex');
  const env = stepEnvironment({ imageEnv: spec.env ?? [], ...(spec.args ? { args: spec.args } : {}), hostname, home: user.home });
  const network = spec.network ?? 'host';

  const created: string[] = [];
  const mirrored: MirroredDir[] = [];
  const note = (t: { created: string[]; mirrored: MirroredDir[] }) => {
    created.push(...t.created);
    mirrored.push(...t.mirrored);
  };
  const cwd = view.ensureDir(spec.cwd || '/', { uid: user.uid, gid: user.gid });
  note(cwd);
  // Mount points the runtime would otherwise create unreported (runc does mkdir them in the rootfs).
  for (const d of ['/proc', '/sys', '/dev']) note(view.ensureDir(d));

  mkdirSync(opts.stateDir ?? tmpdir(), { recursive: true });
  const tmp = mkdtempSync(join(opts.stateDir ?? tmpdir(), 'slipway-step-'));
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const root = join(tmp, 'root');
    mkdirSync(root);
    if (overlay) {
      plan = overlayMountPlan(overlay, driver as Exclude<StorageDriver, 'vfs'>, userns, join(tmp, 'l'));
      writeMountLinks(plan);
    }
    const scriptMounts: ScriptMount[] = [];
    const etc = join(tmp, 'etc');
    mkdirSync(etc);
    const hosts = `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`;
    const files: Record<string, string> = {
      '/etc/hosts': hosts,
      '/etc/resolv.conf': network === 'none' ? '' : readQuiet('/etc/resolv.conf') ?? 'nameserver 127.0.0.1\n',
      '/etc/hostname': `${hostname}\n`,
    };
    for (const [path, text] of Object.entries(files)) {
      const host = join(etc, path.slice(5));
      writeFileSync(host, text, { mode: 0o644 });
      const t = view.ensureFile(path);
      note(t);
      scriptMounts.push({ kind: 'bind', source: host, target: t.path, readonly: false });
    }
    for (const mnt of spec.mounts ?? []) {
      if (mnt.type === 'tmpfs') {
        const t = view.ensureDir(mnt.target);
        note(t);
        scriptMounts.push({ kind: 'tmpfs', source: 'tmpfs', target: t.path, readonly: mnt.readonly ?? false, ...(mnt.size ? { size: mnt.size } : {}) });
        continue;
      }
      if (!mnt.source) throw new RuntimeSetupError(`${location}: a ${mnt.type} mount at ${mnt.target} needs a source`, 'pass source=HOSTPATH');
      if (mnt.type === 'cache') mkdirSync(mnt.source, { recursive: true });
      const isDir = statSync(mnt.source).isDirectory();
      const t = isDir ? view.ensureDir(mnt.target) : view.ensureFile(mnt.target);
      note(t);
      scriptMounts.push({ kind: 'bind', source: mnt.source, target: t.path, readonly: mnt.readonly ?? mnt.type === 'bind' });
    }
    const nofile = currentHardLimit(readQuiet('/proc/self/limits') ?? '', 'Max open files') ?? 1024;
    const bindSys = userns && network !== 'none';
    let main: string;
    let containerId: string | undefined;
    const state = join(tmp, 'state');
    if (isolation === 'oci') {
      const bundle = join(tmp, 'bundle');
      mkdirSync(bundle);
      containerId = `slipway-${process.pid}-${randomBytes(4).toString('hex')}`;
      const extra: OciMount[] = scriptMounts.map((x) =>
        x.kind === 'tmpfs'
          ? { destination: x.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', ...(x.readonly ? ['ro'] : []), ...(x.size ? [`size=${x.size}`] : [])] }
          : { destination: x.target, type: 'none', source: x.source, options: ['rbind', x.readonly ? 'ro' : 'rw'] },
      );
      const cfg = ociConfig({
        rootfs: root, argv: spec.argv, env, cwd: cwd.path, uid: user.uid, gid: user.gid, additionalGids: user.additionalGids,
        hostname, network, extraMounts: extra, nofile, userns, singleIdMap,
      });
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(cfg, null, 2));
      // runc's warnings (cgroups it may not use in a user namespace) go to a log; its errors still reach stderr.
      const logArgs = runtime!.name === 'runc' ? ['--log', shq(join(tmp, 'runtime.log'))] : [];
      main = [shq(runtime!.path), ...logArgs, '--root', shq(state), 'run', '--bundle', shq(bundle), containerId].join(' ');
      const id = containerId;
      cleanup.push(async () => {
        if (existsSync(join(state, id))) await quiet(runtime!.path, ['--root', state, 'delete', '--force', id]);
      });
    } else {
      main = chrootMain(tools, { root, cwd: cwd.path, env, argv: spec.argv, uid: user.uid, gid: user.gid, groups: user.additionalGids, singleIdMap });
    }
    let fstab: string | undefined;
    if (isolation === 'chroot') {
      writeDevSkeleton(join(tmp, 'dev'));
      fstab = join(tmp, 'fstab');
      writeFileSync(fstab, containerFstab({ root, dev: join(tmp, 'dev'), bindSys, singleIdMap, mounts: scriptMounts }));
    }
    const script = stepScript({
      tools, tmp, root,
      rootfs: plan ? { plan } : { dir: spec.rootfs as string },
      fstab,
      hostname: isolation === 'chroot' ? hostname : undefined,
      loopbackUp: isolation === 'chroot' && network === 'none',
      main,
    });
    writeFileSync(join(tmp, 'step.sh'), script);
    const ns = ['--mount', '--propagation', 'private', '--pid', '--fork', '--kill-child'];
    if (isolation === 'oci') ns.push('--mount-proc');
    else ns.push('--uts', '--ipc', ...(network === 'none' ? ['--net'] : []));
    const argv = [tools.setpriv, '--pdeathsig', 'KILL', '--', tools.unshare, ...ns, '--', '/bin/sh', join(tmp, 'step.sh')];
    log(`runtime: ${isolation}${runtime ? ` (${runtime.name}: ${runtime.path})` : ''}, storage ${plan?.driver ?? 'dir'}, user ${user.uid}:${user.gid}, cwd ${cwd.path}, network ${network}`);
    const touched = view.touchedDirs();
    const exit = await spawnStep(argv, io, location);
    if (!existsSync(join(tmp, 'started'))) {
      const why = (readQuiet(join(tmp, 'setup.err')) ?? '').trim();
      throw new RuntimeSetupError(`${location}: setting up the step's container failed: ${why || `exit ${exit.code}`}`, 'run with --debug; try --isolation=chroot or --storage-driver=vfs');
    }
    if (exit.aborted) throw new StepCancelledError(location);
    return {
      exitCode: exit.code,
      createdPaths: created,
      mirroredPaths: mirrored,
      touchedDirs: touched,
      excludedPaths: RUNTIME_EXCLUDED_PATHS,
      ...(plan ? { overlay: { driver: plan.driver, opaqueXattr: plan.opaqueXattr } } : {}),
    };
  } finally {
    for (const c of cleanup) await c().catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

function spawnStep(argv: string[], io: RunIO, location: string): Promise<{ code: number; aborted: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      // unshare --kill-child: SIGKILL to PID 1 takes the whole PID namespace down.
      child.kill('SIGKILL');
    };
    io.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (d: Buffer) => io.stdout?.(d));
    child.stderr.on('data', (d: Buffer) => io.stderr?.(d));
    child.on('error', (e) => reject(new RuntimeSetupError(`${location}: starting the step failed: ${e.message}`, 'install util-linux', e)));
    child.on('close', (code, signal) => {
      io.signal?.removeEventListener('abort', onAbort);
      resolve({ code: code ?? 128 + signalNumber(signal), aborted });
    });
  });
}

function readQuiet(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

function quiet(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: 'ignore' });
    c.on('error', () => resolve());
    c.on('close', () => resolve());
  });
}
