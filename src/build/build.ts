import { readFileSync } from 'node:fs';
import { mkdir, writeFile, readdir, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join, relative } from 'node:path';
import { SlipwayError, formatPlatform, hostPlatform, normalizePlatform, parsePlatform, parseReference, type Platform } from '../oci/index.js';
import type { Image } from '../image/index.js';
import { LayoutStore, RegistrySession, pidAlive, defaultBlobSourcesFile, loadRegistriesConfig, localStoreRoot, storePaths, writeImage, writeOutput, type OutputSpec } from '../store/index.js';
import { parseDockerfile, type ParsedDockerfile } from '../dockerfile/index.js';
import { BuildContext } from '../context/index.js';
import { createPlan, resolveCacheKeys } from '../plan/index.js';
import type { BaseImageInfo, Plan } from '../plan/types.js';
import { InPlaceExecutor, assertRunStepsPossible, chooseIsolation, detectBuildMode, formatBuildMode, inUserNamespace } from '../runtime/index.js';
import { rememberedStorageDriver } from './mode.js';
import { createBaseResolver, type BaseResolver } from './base.js';
import { LayerCache } from './cache.js';
import type { ExecContext } from './context.js';
import { LayerIndexCache } from './layer-index.js';
import { PlanCache, sameBases, type PlannedBase } from './plan-cache.js';
import { ContextHashCache } from '../context/hash-cache.js';
import { latestHistoryTime } from './history.js';
import { withCliLabels } from './metadata.js';
import type { BuildEvent, BuildOptions, BuildResult } from './options.js';
import { RootfsCache, copyTree } from './rootfs.js';
import { runStage } from './stage.js';
import { MissingSecretError } from './steps/run.js';

export class BuildInputError extends SlipwayError {
  constructor(message: string, hint: string) {
    super('BUILD_INPUT', message, { hint, exitCode: 2 });
  }
}

async function readDockerfile(opts: BuildOptions): Promise<{ text: string; name: string; path: string | undefined }> {
  if (opts.dockerfileText !== undefined) return { text: opts.dockerfileText, name: 'Dockerfile', path: undefined };
  const path = opts.file ?? join(opts.context, 'Dockerfile');
  try {
    const text = readFileSync(path, 'utf8'); // sync: one small file, before anything runs in parallel
    const rel = relative(opts.context, path);
    return { text, name: rel.startsWith('..') ? basename(path) : rel, path };
  } catch (e) {
    throw new BuildInputError(`cannot read Dockerfile ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'pass -f PATH, or put a Dockerfile in the context directory');
  }
}

/** Runs `fn` over items with at most `n` at once. */
async function limited<T>(items: readonly T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++] as T);
  });
  await Promise.all(workers);
}

/**
 * Builds an image from a Dockerfile without a daemon: plans the stages the
 * target needs, runs independent stages in parallel, reuses cached layers, and
 * writes the image to the local store (under its tags) or the given outputs.
 * Progress arrives as typed events through `options.onEvent`.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const t0 = Date.now();
  const emit = (e: BuildEvent): void => options.onEvent?.(e);
  const env = options.env ?? process.env;
  const root = localStoreRoot(env, options.root);
  const paths = storePaths(root);
  const platform: Platform = normalizePlatform(options.platform ?? hostPlatform());
  const timestamp = options.timestamp ?? (env.SOURCE_DATE_EPOCH && /^\d+$/.test(env.SOURCE_DATE_EPOCH) ? Number(env.SOURCE_DATE_EPOCH) : undefined);
  const now = Math.floor(Date.now() / 1000);
  const created = new Date((timestamp ?? now) * 1000).toISOString().replace(/\.000Z$/, 'Z');

  const df = await readDockerfile(options);
  const planOpts = {
    ...(options.target !== undefined ? { target: options.target } : {}),
    buildArgs: options.buildArgs ?? {},
    targetPlatform: platform,
    ...(timestamp !== undefined ? { timestamp } : {}),
  };
  // a rebuild of the same Dockerfile takes the plan of the last build (checked against the bases below)
  const plans = new PlanCache(join(paths.cache, 'plans'));
  const planKey = Object.keys(planOpts.buildArgs).length === 0 ? PlanCache.key({ text: df.text, name: df.name, ...(options.target !== undefined ? { target: options.target } : {}), targetPlatform: platform, buildPlatform: hostPlatform(), ...(timestamp !== undefined ? { timestamp } : {}) }) : undefined;
  let remembered = planKey !== undefined && options.noCache !== true ? plans.get(planKey) : undefined;
  let parsed: ParsedDockerfile | undefined;
  const parse = (): ParsedDockerfile => (parsed ??= parseDockerfile(df.text, { file: df.name }));
  let plan: Plan = remembered?.plan ?? createPlan(parse(), planOpts);
  let firstWarnings = remembered?.warnings ?? plan.warnings;
  for (const w of firstWarnings) emit({ type: 'warning', message: w.location ? `${w.location.file}:${w.location.line}: ${w.message}` : w.message });

  await mkdir(paths.tmp, { recursive: true });
  await removeStaleTemps(paths.tmp);
  const store = await LayoutStore.open(paths.oci, { name: 'local store' });
  const regConfig = loadRegistriesConfig(env);
  const session = new RegistrySession({
    env,
    insecureRegistries: [...regConfig.insecure, ...(options.registry?.insecure ?? [])],
    tlsCaFiles: options.registry?.tlsCa ?? [],
    mirrors: regConfig.mirrors,
    blobSourcesFile: defaultBlobSourcesFile(env),
  });
  const bases = createBaseResolver({ store, session, pull: options.pull === true, tmpDir: paths.tmp, emit });
  try {
    const mode = options.buildMode ?? (await detectBuildMode({ isolation: options.isolation, forceInPlace: options.forceInPlace === true, env }));
    const driver = mode.mode === 1 ? await rememberedStorageDriver(paths.tmp).catch(() => ({ driver: 'vfs' as const, reason: 'probe failed' })) : { driver: 'vfs' as const, reason: 'no mounts in this mode' };
    const isolation =
      mode.mode === 1
        ? await chooseIsolation({ ...(options.isolation && options.isolation !== 'none' ? { isolation: options.isolation } : {}), stateDir: paths.tmp }).catch(() => ({ isolation: options.isolation ?? 'chroot' }))
        : { isolation: mode.mode === 2 ? 'none' : 'no-run' };
    emit({ type: 'mode', isolation: isolation.isolation, rootless: inUserNamespace(), storageDriver: driver.driver, root, mode: mode.mode, line: formatBuildMode(mode) });
    // mode 3 (no privileges): a Dockerfile with RUN fails now, one located line per step, before any pull
    assertRunStepsPossible(mode, plan, df.name);
    const inPlace =
      mode.mode === 2
        ? InPlaceExecutor.forBuild({
            keep: [root, options.context, ...(options.file ? [options.file] : []), ...(options.outputs ?? []).flatMap((o) => (o.dest && o.dest !== '-' ? [o.dest] : [])), ...(options.iidfile ? [options.iidfile] : []), ...(options.metadataFile ? [options.metadataFile] : [])],
            env,
            onWarning: (m) => emit({ type: 'warning', message: m }),
          })
        : undefined;
    // resolve base images first: their digests go into cache keys, their ONBUILD triggers become steps
    const resolveBases = async (p: Plan): Promise<{ infos: Map<string, BaseImageInfo>; list: PlannedBase[] }> => {
      const infos = new Map<string, BaseImageInfo>();
      const list: PlannedBase[] = [];
      for (const s of p.stages) {
        if (s.base.kind !== 'image') continue;
        const stagePlatform = s.platform ? normalizePlatform(parsePlatform(s.platform)) : platform;
        const img = await bases.resolve(s.base.ref, stagePlatform, `${df.name}:${s.location.line}`);
        list.push({ ref: s.base.ref, platform: formatPlatform(stagePlatform), digest: img.digest });
        const c = img.config.config ?? {};
        infos.set(s.base.ref, {
          digest: img.digest,
          ...(c.Env ? { env: c.Env } : {}),
          ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
          ...(c.User ? { user: c.User } : {}),
          ...(c.Shell ? { shell: c.Shell } : {}),
          ...(c.OnBuild && c.OnBuild.length > 0 ? { onBuild: c.OnBuild } : {}),
        });
      }
      return { infos, list };
    };
    let resolved = await resolveBases(plan);
    if (remembered !== undefined && !sameBases(remembered.bases, resolved.list)) {
      // a base moved: plan again (the first plan's warnings were printed already: they do not depend on bases)
      remembered = undefined;
      plan = createPlan(parse(), planOpts);
      firstWarnings = plan.warnings;
      resolved = await resolveBases(plan);
    }
    if (remembered === undefined) {
      const { infos } = resolved;
      if (infos.size > 0) plan = createPlan(parse(), { ...planOpts, baseImage: (ref) => infos.get(ref) });
      if (planKey !== undefined) {
        // bases of the final plan's stages (ONBUILD triggers may add a stage): what a rebuild checks
        const list = infos.size > 0 ? (await resolveBases(plan)).list : resolved.list;
        await plans.put(planKey, { warnings: firstWarnings, bases: list, plan }).catch(() => undefined);
      }
    }
    assertRunStepsPossible(mode, plan, df.name); // build modes (issue 7): ONBUILD RUN triggers of the bases, refused in mode 3 too
    checkMountSources(plan, options, df.name);
    const buildContext = await BuildContext.open(options.context, df.path !== undefined ? { dockerfile: df.path } : {});
    // one walk per selection for the cache key and the COPY step (the context's selector)
    const contextRoot = { dir: buildContext.root, name: 'build context', context: true, ignored: (rel: string) => buildContext.isIgnored(rel), selector: buildContext.selector };
    // content hashes through the persistent stat-keyed memo; a missing source fails later, at its step, with a located message
    const memo = ContextHashCache.open(join(paths.cache, 'context-hashes'), buildContext.root);
    buildContext.useDigestMemo(memo);
    plan = await resolveCacheKeys(plan, (sel) => buildContext.hashSelection(sel, { recordErrors: true }));
    if (memo.dirty) {
      await memo.save().catch(() => undefined); // a memo that cannot be written costs a re-read next build, nothing else
      await rm(join(paths.cache, 'context-hashes.json'), { force: true }).catch(() => undefined); // the unbounded memo of earlier versions
    }

    emit({ type: 'plan', stages: plan.stages.map((s) => ({ name: s.name ?? `stage-${s.index}`, steps: s.steps.length })) });

    const stageImages = new Map<number, Promise<Image>>();
    const rootfs = new RootfsCache(paths.layers, join(paths.tmp, 'flat'), (m) => emit({ type: 'warning', message: m }));
    const ctx: ExecContext = {
      storageDriver: driver.driver,
      ...(inPlace ? { inPlace } : {}),
      options,
      plan,
      dockerfile: df.name,
      store,
      paths,
      cache: new LayerCache(paths.cache),
      index: new LayerIndexCache(join(paths.cache, 'index')),
      unpack: rootfs,
      bases,
      platform,
      created,
      clamp: timestamp,
      now,
      contextRoot,
      emit,
      counters: { run: 0, cached: 0 },
      stageImage(index) {
        let p = stageImages.get(index);
        if (!p) {
          const stage = plan.stages.find((s) => s.index === index);
          if (!stage) return Promise.reject(new BuildInputError(`stage ${index} is not part of the plan`, 'this is a bug in slipway; please report it'));
          p = runStage(ctx, stage);
          stageImages.set(index, p);
        }
        return p;
      },
      async stageRootfs(index) {
        return rootfs.flat((await ctx.stageImage(index)).layers);
      },
      imageRootfs(image) {
        return rootfs.flat(image.layers);
      },
    };
    // independent stages run in parallel, wave by wave, at most --jobs at once
    const jobs = mode.mode === 2 ? 1 : (options.jobs ?? availableParallelism()); // build modes (issue 7): in place there is one root filesystem
    for (const level of plan.levels) await limited(level, jobs, async (i) => void (await ctx.stageImage(i)));
    let image = await ctx.stageImage(plan.target);
    // the time of the newest step of this build (cached steps keep theirs): a fully cached rebuild
    // gives the same image (as `buildah bud --layers`); no step of its own: the base's time
    const own = timestamp !== undefined ? undefined : latestHistoryTime(image.config, await inheritedHistory(plan, bases, platform, df.name));
    image = image.withConfig((c) => {
      const withLabels = withCliLabels(c, options.labels ?? {});
      return { ...withLabels, created: timestamp !== undefined ? created : (own ?? c.created ?? created) };
    });
    if (options.annotations && Object.keys(options.annotations).length > 0) image = image.withAnnotations({ ...(image.manifest.annotations ?? {}), ...options.annotations });

    const tags = options.tags ?? [];
    const outputs = await writeOutputs(ctx, image, tags, session);
    const result: BuildResult = { digest: image.digest, configDigest: image.id, tags, outputs, steps: { ...ctx.counters } };
    if (options.iidfile) await writeFile(options.iidfile, image.id);
    if (options.metadataFile) {
      await writeFile(
        options.metadataFile,
        JSON.stringify(
          {
            'containerimage.digest': image.digest,
            'containerimage.config.digest': image.id,
            'containerimage.descriptor': { mediaType: image.descriptor.mediaType, digest: image.digest, size: image.descriptor.size },
            'image.name': tags.join(','),
          },
          null,
          2,
        ) + '\n',
      );
    }
    emit({ type: 'done', digest: image.digest, configDigest: image.id, outputs, ms: Date.now() - t0 });
    return result;
  } finally {
    await bases.close();
    await session.close();
    await store.close();
  }
}

/** How many history entries the target's chain of stages inherits from its base image (none from scratch). */
async function inheritedHistory(plan: Plan, bases: BaseResolver, platform: Platform, dockerfile: string): Promise<number> {
  let st = plan.stages.find((s) => s.index === plan.target);
  const seen = new Set<number>();
  while (st !== undefined && st.base.kind === 'stage' && !seen.has(st.index)) {
    seen.add(st.index);
    const from = st.base.stage;
    st = plan.stages.find((s) => s.index === from);
  }
  if (st === undefined || st.base.kind !== 'image') return 0;
  const stagePlatform = st.platform ? normalizePlatform(parsePlatform(st.platform)) : platform;
  // resolved already (the resolver keeps each reference): no IO here
  return (await bases.resolve(st.base.ref, stagePlatform, `${dockerfile}:${st.location.line}`)).config.history?.length ?? 0;
}

/** Scratch dirs of builds that were killed (their pid is gone) are removed; live builds' dirs stay. */
async function removeStaleTemps(tmp: string): Promise<void> {
  const names = await readdir(tmp).catch(() => [] as string[]);
  await Promise.all(
    names.map(async (n) => {
      const m = /^(?:copy|run|oci-archive|base)-(\d+)-/.exec(n);
      if (m && !pidAlive(Number(m[1]))) await rm(join(tmp, n), { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

/** Every required RUN --mount secret and ssh id must be given, even when the step would be a cache hit. */
function checkMountSources(plan: Plan, options: BuildOptions, dockerfile: string): void {
  for (const st of plan.stages) {
    for (const step of st.steps) {
      if (step.kind !== 'run') continue;
      for (const m of step.mounts) {
        if (m.required === false) continue;
        const where = `${dockerfile}:${step.location.line}`;
        if (m.type === 'secret' && !(options.secrets ?? []).some((x) => x.id === (m.id ?? 'secret'))) throw new MissingSecretError(where, m.id ?? 'secret');
        if (m.type === 'ssh' && !(options.ssh ?? []).some((x) => x.id === (m.id ?? 'default'))) {
          throw new SlipwayError('MISSING_SSH', `${where}: RUN --mount=type=ssh,id=${m.id ?? 'default'}: no --ssh ${m.id ?? 'default'} was given`, { hint: `pass --ssh ${m.id ?? 'default'}=$SSH_AUTH_SOCK` });
        }
      }
    }
  }
}

async function writeOutputs(ctx: ExecContext, image: Image, tags: readonly string[], session: RegistrySession): Promise<string[]> {
  const done: string[] = [];
  const outputs: OutputSpec[] = ctx.options.outputs && ctx.options.outputs.length > 0 ? ctx.options.outputs : [];
  const storeNames = tags.map((t) => parseReference(t).toString());
  // the image always lands in the local store (outputs copy from it); tagged when no output says otherwise
  const toStore = outputs.length === 0 || outputs.some((o) => o.type === 'image' && !o.push);
  const t = Date.now();
  await writeImage(ctx.store, image, undefined);
  if (toStore) {
    // a tag that already names this image stays as it is: a fully cached rebuild rewrites nothing
    const current = storeNames.length > 0 ? await ctx.store.list() : [];
    for (const n of storeNames) if (!current.some((e) => e.ref === n && e.descriptor.digest === image.digest)) await ctx.store.tag(image.descriptor, n);
    done.push(storeNames.length > 0 ? `local store as ${storeNames.join(', ')}` : `local store (untagged)`);
    ctx.emit({ type: 'output', output: done[done.length - 1] as string, ms: Date.now() - t });
  }
  for (const o of outputs) {
    const t1 = Date.now();
    let what: string;
    if (o.type === 'oci' || o.type === 'docker') {
      await writeOutput(ctx.store, image.descriptor, o, { names: tags.length > 0 ? tags : [] });
      what = `${o.type}${o.tar ? ' archive' : ' layout'} ${o.dest}`;
    } else if (o.type === 'local') {
      const dest = o.dest as string;
      await mkdir(dest, { recursive: true });
      // cp -a keeps owners, modes, hard links and device nodes (fs.cp does not)
      await copyTree(await ctx.unpack.flat(image.layers), dest);
      what = `local ${dest}`;
    } else if (o.push || o.type === 'registry') {
      const names = o.names.length > 0 ? o.names : [...tags];
      for (const n of names) {
        const ref = parseReference(n);
        const repo = session.repository(ref, 'push');
        await writeImage(repo, image, ref.tag ?? ref.digest ?? 'latest');
      }
      what = `registry ${names.join(', ')}`;
    } else if (o.type === 'image') {
      continue;
    } else {
      throw new BuildInputError(`--output type=${o.type} is not supported by slipway build`, 'use type=oci, docker, local or registry');
    }
    done.push(what);
    ctx.emit({ type: 'output', output: what, ms: Date.now() - t1 });
  }
  return done;
}
