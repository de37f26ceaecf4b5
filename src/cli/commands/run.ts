import type { Command } from '../command.js';
import { flag, list, str } from '../command.js';
import {
  copyRootfsVfs,
  detectStorageDriver,
  ensureUserNamespace,
  localStoreRoot,
  lowerOpaqueDirsOnDisk,
  runStep,
  storePaths,
  UsageError,
  type RunIsolation,
  type RunMount,
  type RunSpec,
  type StorageDriver,
} from '../../index.js';

/** Parses --mount type=bind|cache|tmpfs,source=HOST,target=PATH[,ro|readonly][,size=BYTES]. */
export function parseRunMount(text: string): RunMount {
  const kv = new Map<string, string>();
  for (const part of text.split(',')) {
    const i = part.indexOf('=');
    kv.set(i < 0 ? part : part.slice(0, i), i < 0 ? 'true' : part.slice(i + 1));
  }
  const type = kv.get('type') ?? 'bind';
  if (type !== 'bind' && type !== 'cache' && type !== 'tmpfs') throw new UsageError(`--mount ${text}: unknown type "${type}"`, 'use type=bind, cache or tmpfs');
  const target = kv.get('target') ?? kv.get('dst') ?? kv.get('destination');
  if (!target || !target.startsWith('/')) throw new UsageError(`--mount ${text}: target=ABSOLUTE_PATH is required`);
  const source = kv.get('source') ?? kv.get('src');
  if (type !== 'tmpfs' && !source) throw new UsageError(`--mount ${text}: source=HOST_PATH is required for type=${type}`);
  const ro = kv.get('ro') ?? kv.get('readonly');
  const rw = kv.get('rw');
  return {
    type,
    target,
    ...(source ? { source } : {}),
    ...(ro !== undefined ? { readonly: ro !== 'false' } : rw !== undefined ? { readonly: rw === 'false' } : {}),
    ...(kv.get('size') ? { size: Number(kv.get('size')) } : {}),
  };
}

export const runStepCommand: Command = {
  name: 'run-step',
  usage: '--rootfs DIR | --lower DIR... --upper DIR --work DIR [options] -- CMD [ARG...]',
  details: 'Example: slipway run-step --rootfs ./rootfs --user 1000 --network none -- sh -c "id"\nThe exit status is the command\'s. As a non-root user slipway first enters a user namespace.',
  options: {
    rootfs: { type: 'string', value: 'DIR', description: 'rootfs directory (changed in place)' },
    lower: { type: 'string', multiple: true, value: 'DIR', description: 'overlay lower dir, topmost first' },
    upper: { type: 'string', value: 'DIR', description: 'overlay upper dir (receives the changes)' },
    work: { type: 'string', value: 'DIR', description: 'overlay work dir (same filesystem as --upper)' },
    user: { type: 'string', short: 'u', value: 'USER[:GROUP]', description: 'user to run as (name or uid), default root' },
    workdir: { type: 'string', short: 'w', value: 'DIR', description: 'working directory, created if missing (default /)' },
    env: { type: 'string', short: 'e', multiple: true, value: 'K=V', description: 'environment variable' },
    'build-arg': { type: 'string', multiple: true, value: 'K=V', description: 'build arg in scope (env for this step only)' },
    mount: { type: 'string', multiple: true, value: 'SPEC', description: 'type=bind|cache|tmpfs,source=HOST,target=PATH[,ro]' },
    network: { type: 'string', value: 'host|none', description: 'network mode (default host)' },
    hostname: { type: 'string', value: 'NAME', description: 'hostname (default random)' },
    isolation: { type: 'string', value: 'oci|chroot', description: 'oci: crun/runc bundle; chroot: util-linux only (default oci if a runtime works)' },
    runtime: { type: 'string', value: 'PATH', description: 'OCI runtime to use (default: crun, else runc)' },
    'storage-driver': { type: 'string', value: 'overlay|fuse-overlayfs|vfs', description: 'how to mount --lower/--upper (default: detected); vfs copies the lowers into --upper' },
  },
  args: { min: 0, max: Number.MAX_SAFE_INTEGER },
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError('run-step: no command given', 'put the command after --, e.g. slipway run-step --rootfs DIR -- sh -c "id"');
    await ensureUserNamespace(process.argv, ctx.env);
    const rootfsDir = str(ctx, 'rootfs');
    const lowers = list(ctx, 'lower');
    let rootfs: RunSpec['rootfs'];
    const driver = str(ctx, 'storage-driver');
    if (rootfsDir && lowers.length === 0) rootfs = rootfsDir;
    else if (!rootfsDir && lowers.length > 0 && str(ctx, 'upper') && str(ctx, 'work')) rootfs = { lowers, upper: str(ctx, 'upper')!, work: str(ctx, 'work')! };
    else throw new UsageError('run-step: give either --rootfs DIR, or --lower DIR... with --upper DIR and --work DIR');
    if (typeof rootfs !== 'string' && (await detectStorageDriver(driver)).driver === 'vfs') {
      // vfs: the lowers (whiteouts not applied) are copied bottom-up into --upper, which becomes the rootfs.
      for (const l of [...rootfs.lowers].reverse()) await copyRootfsVfs(l, rootfs.upper);
      ctx.log(`storage: vfs, copied ${rootfs.lowers.length} lower dir(s) into ${rootfs.upper}`);
      rootfs = rootfs.upper;
    }
    // what the overlay mount hides (opaque lower dirs), so user lookup and mount points see the same tree
    let lowerOpaqueDirs: Set<string>[] | undefined;
    if (typeof rootfs !== 'string' && rootfs.lowers.length > 1) {
      lowerOpaqueDirs = await lowerOpaqueDirsOnDisk(rootfs.lowers).catch((e: unknown) => {
        ctx.log(`warning: cannot read the opaque dirs of the lower dirs (${e instanceof Error ? e.message : String(e)}); files they hide may be seen for USER and mount points`);
        return undefined;
      });
    }
    const network = str(ctx, 'network') ?? 'host';
    if (network !== 'host' && network !== 'none') throw new UsageError(`run-step: --network must be host or none, not "${network}"`);
    const isolation = str(ctx, 'isolation');
    if (isolation !== undefined && isolation !== 'oci' && isolation !== 'chroot') throw new UsageError(`run-step: --isolation must be oci or chroot, not "${isolation}"`);
    const args: Record<string, string> = {};
    for (const kv of list(ctx, 'build-arg')) {
      const i = kv.indexOf('=');
      if (i > 0) args[kv.slice(0, i)] = kv.slice(i + 1);
    }
    const spec: RunSpec = {
      rootfs,
      argv: ctx.positionals,
      env: list(ctx, 'env'),
      args,
      cwd: str(ctx, 'workdir') ?? '/',
      user: str(ctx, 'user') ?? '',
      mounts: list(ctx, 'mount').map(parseRunMount),
      network,
      location: 'run-step',
      ...(lowerOpaqueDirs ? { lowerOpaqueDirs } : {}),
      ...(str(ctx, 'hostname') ? { hostname: str(ctx, 'hostname')! } : {}),
    };
    const abort = new AbortController();
    let stopSignal = 0;
    const handlers = ([['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const).map(([s, n]) => {
      const h = () => {
        stopSignal = n;
        abort.abort();
      };
      process.on(s, h);
      return [s, h] as const;
    });
    try {
      const r = await runStep(spec, { stdout: (d) => ctx.stdout.write(d), stderr: (d) => ctx.stderr.write(d), signal: abort.signal }, {
        ...(isolation ? { isolation: isolation as RunIsolation } : {}),
        ...(str(ctx, 'runtime') ? { runtime: str(ctx, 'runtime')! } : {}),
        ...(driver ? { storageDriver: driver as StorageDriver } : {}),
        stateDir: storePaths(localStoreRoot(ctx.env, str(ctx, 'root'))).tmp,
        log: ctx.log,
      });
      if (flag(ctx, 'debug')) ctx.log(`created mount points: ${r.createdPaths.join(' ') || '(none)'}`);
      if (r.overlay) ctx.log(`overlay: ${r.overlay.driver}, opaque dirs marked by xattr ${r.overlay.opaqueXattr}, whiteouts are 0:0 char devices`);
      return r.exitCode;
    } catch (e) {
      if (stopSignal) return 128 + stopSignal;
      throw e;
    } finally {
      for (const [s, h] of handlers) process.off(s, h);
    }
  },
};
