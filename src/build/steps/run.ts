import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../../oci/index.js';
import type { RunStep, RunMount as PlanMount } from '../../plan/types.js';
import { RUNTIME_EXCLUDED_PATHS, RootfsView, resolveRunUser, runStep, type MirroredDir, type RunMount } from '../../runtime/index.js';
import { diffOverlay } from '../../snapshot/diff-overlay.js';
import { diffTrees } from '../../snapshot/diff-trees.js';
import type { LayerResult } from '../../snapshot/layer-writer.js';
import type { ExecContext, StageState } from '../context.js';
import { locationOf } from '../context.js';
import { DEFAULT_SHELL } from '../metadata.js';
import { copyTree } from '../rootfs.js';
import { storeLayerResult } from '../layer-commit.js';
import { undoVfsMountPoints, untouchedMountPoints, type MountPointOwners } from './mount-points.js';

export class RunFailedError extends SlipwayError {
  constructor(where: string, command: string, code: number) {
    super('RUN_FAILED', `${where}: RUN ${command.length > 200 ? command.slice(0, 200) + '…' : command} failed with exit code ${code}`, {
      hint: 'the command failed inside the build container; its output is above',
    });
  }
}

export class MissingSecretError extends SlipwayError {
  constructor(where: string, id: string) {
    super('MISSING_SECRET', `${where}: RUN --mount=type=secret,id=${id}: no secret "${id}" was given`, {
      hint: `pass --secret id=${id},src=FILE or --secret id=${id},env=VAR (or add required=false)`,
    });
  }
}

/** The argv a RUN executes: exec form as given; shell form through SHELL (heredocs are already in the planner's args). */
export function runArgv(step: RunStep, imageShell: string[] | undefined): string[] {
  if (step.form === 'exec') return [...step.args];
  const shell = step.shell ?? (imageShell && imageShell.length > 0 ? imageShell : DEFAULT_SHELL);
  return [...shell, ...step.args];
}

/** BuildKit marks steps that made a layer with ` # buildkit`. */
export function withBuildkitSuffix(createdBy: string): string {
  return createdBy.endsWith(' # buildkit') ? createdBy : `${createdBy} # buildkit`;
}

async function secretFile(ctx: ExecContext, dir: string, id: string, where: string, required: boolean): Promise<string | undefined> {
  const s = (ctx.options.secrets ?? []).find((x) => x.id === id);
  if (!s) {
    if (required) throw new MissingSecretError(where, id);
    return undefined;
  }
  let value: Buffer;
  if ('src' in s) {
    value = await readFile(s.src).catch(() => {
      throw new SlipwayError('MISSING_SECRET', `--secret id=${id}: cannot read ${s.src}`, { hint: 'check the src= path' });
    });
  } else {
    const v = (ctx.options.env ?? process.env)[s.env];
    if (v === undefined) throw new SlipwayError('MISSING_SECRET', `--secret id=${id}: environment variable ${s.env} is not set`, { hint: `export ${s.env} or use src=FILE` });
    value = Buffer.from(v);
  }
  const f = join(dir, `secret-${id.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
  await writeFile(f, value, { mode: 0o400 });
  return f;
}

interface Mounts {
  mounts: RunMount[];
  env: Record<string, string>;
}

async function mountsFor(ctx: ExecContext, st: StageState, step: RunStep, scratch: string, where: string): Promise<Mounts> {
  const out: Mounts = { mounts: [], env: {} };
  const workdir = step.workdir ?? st.image.config.config?.WorkingDir ?? '/';
  const abs = (t: string | undefined, fallback: string): string => {
    const p = t ?? fallback;
    return p.startsWith('/') ? p : `${workdir.replace(/\/$/, '')}/${p}`;
  };
  for (const m of step.mounts as PlanMount[]) {
    switch (m.type) {
      case 'bind': {
        let root: string;
        if (m.from === undefined) root = ctx.contextRoot.dir;
        else if ('stage' in m.from) root = await ctx.stageRootfs(m.from.stage);
        else root = await ctx.imageRootfs(await ctx.bases.resolve(m.from.image, ctx.platform, where));
        const src = join(root, (m.source ?? '/').replace(/^\/+/, ''));
        out.mounts.push({ type: 'bind', source: src, target: abs(m.target, '/'), readonly: m.readonly });
        break;
      }
      case 'cache': {
        const id = (m.id ?? m.target ?? 'default').replace(/[^A-Za-z0-9_.-]/g, '_');
        const dir = join(ctx.paths.root, 'cache-mounts', id);
        await mkdir(dir, { recursive: true });
        if (m.mode !== undefined) await chmod(dir, m.mode);
        out.mounts.push({ type: 'cache', source: dir, target: abs(m.target, '/'), readonly: m.readonly });
        break;
      }
      case 'tmpfs':
        out.mounts.push({ type: 'tmpfs', target: abs(m.target, '/tmp'), ...(m.size !== undefined ? { size: m.size } : {}) });
        break;
      case 'secret': {
        const id = m.id ?? 'secret';
        const f = await secretFile(ctx, scratch, id, where, m.required !== false);
        if (!f) break;
        if (m.env !== undefined) {
          out.env[m.env] = (await readFile(f)).toString('utf8');
          if (m.target === undefined) break;
        }
        out.mounts.push({ type: 'bind', source: f, target: m.target ?? `/run/secrets/${id}`, readonly: true });
        break;
      }
      case 'ssh': {
        const id = m.id ?? 'default';
        const s = (ctx.options.ssh ?? []).find((x) => x.id === id);
        if (!s) {
          if (m.required === false) break;
          throw new SlipwayError('MISSING_SSH', `${where}: RUN --mount=type=ssh,id=${id}: no --ssh ${id} was given`, { hint: `pass --ssh ${id}=$SSH_AUTH_SOCK` });
        }
        const target = m.target ?? `/run/buildkit/ssh_agent.${0}`;
        out.mounts.push({ type: 'bind', source: s.paths[0] as string, target, readonly: true });
        out.env.SSH_AUTH_SOCK = target;
        break;
      }
    }
  }
  return out;
}

function splitEnv(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** RUN: the step runs in a container over the stage's layers; its changes become one layer. */
export async function runRunStep(ctx: ExecContext, st: StageState, step: RunStep, id: string): Promise<void> {
  const where = locationOf(ctx, step);
  const config = st.image.config.config ?? {};
  const argv = runArgv(step, config.Shell);
  await mkdir(ctx.paths.tmp, { recursive: true });
  const scratch = await mkdtemp(join(ctx.paths.tmp, `run-${process.pid}-`));
  try {
    const { mounts, env: mountEnv } = await mountsFor(ctx, st, step, scratch, where);
    // heredoc scripts with a shebang run as files (the planner names their paths)
    for (const [i, f] of step.inlineFiles.entries()) {
      const host = join(scratch, `inline-${i}`);
      await writeFile(host, f.data, { mode: f.mode });
      mounts.push({ type: 'bind', source: host, target: f.path, readonly: true });
    }
    const args = { ...splitEnv(step.env.args), ...splitEnv(step.env.proxy), ...mountEnv };
    const driver = ctx.storageDriver;
    const exclude = [...RUNTIME_EXCLUDED_PATHS];
    const write = { compression: ctx.options.compression ?? 'gzip',
    ...(ctx.options.compressionLevel !== undefined ? { level: ctx.options.compressionLevel } : {}), tmpDir: ctx.paths.tmp, ...(ctx.clamp !== undefined ? { timestamp: ctx.clamp } : {}) } as const;
    const lineSplitter = (stream: 'stdout' | 'stderr') => {
      let buf = '';
      return (chunk: Buffer): void => {
        buf += chunk.toString('utf8');
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          ctx.emit({ type: 'step-output', id, stream, line: buf.slice(0, i) });
          buf = buf.slice(i + 1);
        }
        if (buf.length > 4096) {
          ctx.emit({ type: 'step-output', id, stream, line: buf });
          buf = '';
        }
      };
    };
    const base = {
      argv,
      env: config.Env ?? [],
      args,
      cwd: step.workdir ?? config.WorkingDir ?? '/',
      user: step.user ?? config.User ?? '',
      mounts,
      network: (step.network === 'default' ? (ctx.options.network === 'none' ? 'none' : 'host') : step.network) as 'host' | 'none',
      location: where,
    };
    const io = { stdout: lineSplitter('stdout'), stderr: lineSplitter('stderr'), ...(ctx.options.signal ? { signal: ctx.options.signal } : {}) };
    const ropts = { ...(ctx.options.isolation && ctx.options.isolation !== 'none' ? { isolation: ctx.options.isolation } : {}), stateDir: ctx.paths.tmp, storageDriver: driver };
    /** The stage's base filesystem as the step started on it (overlay lowers or the vfs tree). */
    let baseView: RootfsView | undefined;
    const owners: MountPointOwners = {
      self: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      // as runStep resolved it (before the step ran): from the base layers' /etc/passwd and /etc/group
      ...(base.user !== '' ? { cwdOwner: async () => {
        // the unpacked base when there is one (no second read of its layers), else the layer index
        const view = baseView;
        if (view) return resolveRunUser(base.user, view.readFile('/etc/passwd'), view.readFile('/etc/group'), where);
        const fs = ctx.index.view(st.image.layers);
        const text = async (p: string) => (await fs.readFile(p))?.toString('utf8');
        return resolveRunUser(base.user, await text('/etc/passwd'), await text('/etc/group'), where);
      } } : {}),
    };
    const dropped = (top: string, res: { createdPaths: readonly string[]; mirroredPaths: readonly MirroredDir[] }) =>
      untouchedMountPoints(top, res.createdPaths, base.cwd, owners, res.mirroredPaths);
    let written: LayerResult | undefined;
    if (ctx.inPlace) {
      // mode 2: no namespaces; the executor swaps the stage's layers onto "/" and scans the changes
      const res = await ctx.inPlace.runStep(st.image.layers, base, io, { ...write, exclude });
      if (res.exitCode !== 0) throw new RunFailedError(where, argv.join(' '), res.exitCode);
      written = res.layer;
    } else if (driver !== 'vfs') {
      let lowers = await ctx.unpack.lowers(st.image.layers);
      if (lowers.length === 0) {
        const empty = join(scratch, 'empty');
        await mkdir(empty);
        lowers = [empty];
      }
      const upper = join(scratch, 'upper');
      const work = join(scratch, 'work');
      await mkdir(upper);
      await mkdir(work);
      // from the unpack markers (no second read of the layers); the layer index for older caches
      const lowerOpaqueDirs = st.image.layers.length === 0 ? [] : ctx.unpack.opaqueDirs(st.image.layers) ?? (await ctx.index.opaqueDirs(st.image.layers));
      baseView = new RootfsView(lowers, lowerOpaqueDirs);
      const res = await runStep({ ...base, rootfs: { lowers, upper, work }, lowerOpaqueDirs }, io, ropts);
      if (res.exitCode !== 0) throw new RunFailedError(where, argv.join(' '), res.exitCode);
      written = await diffOverlay(upper, { ...write, exclude: [...exclude, ...(await dropped(upper, res))] });
    } else {
      const before = await ctx.unpack.flat(st.image.layers);
      const rootfs = join(scratch, 'rootfs');
      await mkdir(rootfs);
      await copyTree(before, rootfs);
      // Everything the step touches gets a ctime after this, so the differ hashes only those
      // files (without it, every base file with a whole-second mtime, i.e. all of a tar-made base).
      const since = Date.now();
      baseView = new RootfsView([before]);
      const res = await runStep({ ...base, rootfs }, io, ropts);
      if (res.exitCode !== 0) throw new RunFailedError(where, argv.join(' '), res.exitCode);
      const gone = await dropped(rootfs, res);
      await undoVfsMountPoints(rootfs, gone, res.touchedDirs);
      written = await diffTrees(before, rootfs, { ...write, exclude: [...exclude, ...gone], since });
    }
    const history = { created: ctx.created, created_by: withBuildkitSuffix(step.createdBy), comment: 'buildkit.dockerfile.v0' };
    if (written) st.image = st.image.append(await storeLayerResult(ctx, written), history);
    else st.image = st.image.appendEmptyHistory(history);
  } finally {
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}
