import { resolve } from 'node:path';
import { availableParallelism } from 'node:os';
import type { Command, CommandContext, OptionSpec } from '../command.js';
import { flag, list, str } from '../command.js';
import {
  UsageError,
  build,
  ensureUserNamespace,
  detectBuildMode,
  parseBuildArgs,
  parseBuildJobs,
  parseKeyValueFlags,
  parseOutputSpec,
  parsePlatform,
  parseSecretSpec,
  parseSshSpec,
  parseBuildTimestamp,
} from '../../index.js';
import type { BuildOptions, BuildOutput, Compression, Isolation, NetworkMode, ProgressMode } from '../../index.js';
import { createProgress } from '../progress.js';
import { REGISTRY_OPTIONS } from './registry-flags.js';

const OPTIONS: Record<string, OptionSpec> = {
  file: { type: 'string', short: 'f', value: 'PATH', description: 'Dockerfile (default CONTEXT/Dockerfile; "-" reads stdin)' },
  tag: { type: 'string', short: 't', multiple: true, value: 'REF', description: 'name and tag the image' },
  'build-arg': { type: 'string', multiple: true, value: 'K=V|K', description: 'build-time variable (K alone: from the environment)' },
  target: { type: 'string', value: 'STAGE', description: 'build this stage (default the last)' },
  platform: { type: 'string', value: 'os/arch', description: 'target platform (default the host)' },
  label: { type: 'string', multiple: true, value: 'K=V', description: 'set an image label' },
  annotation: { type: 'string', multiple: true, value: 'K=V', description: 'set a manifest annotation' },
  'no-cache': { type: 'boolean', description: 'do not use the layer cache' },
  'no-cache-filter': { type: 'string', multiple: true, value: 'STAGE', description: 'do not use the cache for this stage' },
  pull: { type: 'boolean', description: 'always re-resolve base images' },
  network: { type: 'string', value: 'host|none', description: 'network for RUN steps (default host)' },
  secret: { type: 'string', multiple: true, value: 'id=ID,src=PATH|env=VAR', description: 'secret for RUN --mount=type=secret' },
  ssh: { type: 'string', multiple: true, value: 'default|ID=PATH', description: 'SSH agent socket or keys for RUN --mount=type=ssh' },
  isolation: { type: 'string', value: 'oci|chroot|none', description: 'how RUN steps are isolated (default: the best this machine allows; none = in place, in a disposable container)' },
  'force-in-place': { type: 'boolean', description: 'allow --isolation=none where / does not look like a throwaway container (dangerous)' },
  progress: { type: 'string', value: 'auto|plain|tty|quiet', description: 'progress output (default auto)' },
  iidfile: { type: 'string', value: 'FILE', description: 'write the image ID (config digest) to FILE' },
  'metadata-file': { type: 'string', value: 'FILE', description: 'write build result metadata (JSON) to FILE' },
  quiet: { type: 'boolean', short: 'q', description: 'print only the image ID' },
  output: { type: 'string', short: 'o', multiple: true, value: 'type=oci|docker|local|registry,dest=..', description: 'where the image goes (default: the local store)' },
  push: { type: 'boolean', description: 'push every -t tag to its registry (= --output type=registry)' },
  jobs: { type: 'string', value: 'N', description: 'stages built in parallel (default: cores)' },
  compression: { type: 'string', value: 'gzip|zstd|none', description: 'layer compression (default gzip)' },
  'compression-level': { type: 'string', value: 'N', description: 'gzip 1-9 (default 5) or zstd 1-19 (default 3); 1 is fastest' },
  timestamp: { type: 'string', value: 'SECONDS', description: 'clamp mtimes and set created (default $SOURCE_DATE_EPOCH)' },
  ...REGISTRY_OPTIONS,
};

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name}: "${value}" is not one of ${allowed.join(', ')}`);
  return value as T;
}

export interface ParsedBuildCommand {
  options: BuildOptions;
  progress: ProgressMode;
}

/** argv (already split by parseArgs) -> BuildOptions; pure apart from reading `cwd`. */
export function buildOptionsFromArgs(ctx: Pick<CommandContext, 'values' | 'positionals' | 'env'>, cwd: string = process.cwd()): ParsedBuildCommand {
  const c = ctx as CommandContext;
  const context = resolve(cwd, ctx.positionals[0] ?? '.');
  const file = str(c, 'file');
  const quiet = flag(c, 'quiet');
  const progress = quiet ? 'quiet' : (oneOf(str(c, 'progress'), ['auto', 'plain', 'tty', 'quiet'] as const, 'progress') ?? 'auto');
  // `type=registry` alone means "push the -t tags", as buildx does
  const pushTags = (): BuildOutput => ({ type: 'registry', dest: undefined, tar: false, names: [], push: true, attrs: { type: 'registry' } });
  const outputs = list(c, 'output').map((o) => (/^\s*type=registry\s*$/.test(o) ? pushTags() : parseOutputSpec(o)));
  if (flag(c, 'push') && !outputs.some((o) => o.push)) outputs.push(pushTags());
  const tags = list(c, 'tag');
  if (outputs.some((o) => o.push && o.names.length === 0) && tags.length === 0) {
    throw new UsageError('--push/--output type=registry needs at least one -t tag', 'add -t registry.example.com/repo:tag');
  }
  const network = oneOf(str(c, 'network'), ['host', 'none', 'default'] as const, 'network') as NetworkMode | undefined;
  const isolation = oneOf(str(c, 'isolation'), ['oci', 'chroot', 'none'] as const, 'isolation') as Isolation | undefined;
  const compression = oneOf(str(c, 'compression'), ['gzip', 'zstd', 'none'] as const, 'compression') as Compression | undefined;
  const ts = str(c, 'timestamp') ?? ctx.env.SOURCE_DATE_EPOCH;
  const jobs = str(c, 'jobs');
  const platform = str(c, 'platform');
  const root = str(c, 'root');
  const options: BuildOptions = {
    context,
    tags,
    buildArgs: parseBuildArgs(list(c, 'build-arg'), ctx.env),
    labels: parseKeyValueFlags(list(c, 'label'), '--label'),
    annotations: parseKeyValueFlags(list(c, 'annotation'), '--annotation'),
    noCache: flag(c, 'no-cache'),
    noCacheFilter: list(c, 'no-cache-filter'),
    pull: flag(c, 'pull'),
    secrets: list(c, 'secret').map(parseSecretSpec).map((s) => ('src' in s ? { id: s.id, src: resolve(cwd, s.src) } : s)),
    ssh: list(c, 'ssh').map((s) => parseSshSpec(s, ctx.env)),
    outputs,
    jobs: jobs !== undefined ? parseBuildJobs(jobs) : availableParallelism(),
    env: ctx.env,
  };
  if (file !== undefined && file !== '-') options.file = resolve(cwd, file);
  const target = str(c, 'target');
  if (target !== undefined) options.target = target;
  if (platform !== undefined) options.platform = parsePlatform(platform);
  if (network !== undefined) options.network = network;
  if (isolation !== undefined) options.isolation = isolation;
  if (flag(c, 'force-in-place')) options.forceInPlace = true;
  if (compression !== undefined) options.compression = compression;
  const level = str(c, 'compression-level');
  if (level !== undefined) {
    if (!/^\d+$/.test(level) || Number(level) < 1 || Number(level) > 19) throw new UsageError(`--compression-level: expected 1-19, got "${level}"`);
    options.compressionLevel = Number(level);
  }
  if (ts !== undefined && ts !== '') options.timestamp = parseBuildTimestamp(ts, str(c, 'timestamp') !== undefined ? '--timestamp' : 'SOURCE_DATE_EPOCH');
  if (root !== undefined) options.root = resolve(cwd, root);
  const insecure = list(c, 'insecure-registry');
  const tlsCa = list(c, 'tls-ca').map((f) => resolve(cwd, f));
  if (insecure.length > 0 || tlsCa.length > 0) options.registry = { insecure, tlsCa };
  const iid = str(c, 'iidfile');
  if (iid !== undefined) options.iidfile = resolve(cwd, iid);
  const meta = str(c, 'metadata-file');
  if (meta !== undefined) options.metadataFile = resolve(cwd, meta);
  for (const o of outputs) if (o.dest !== undefined && o.dest !== '-') o.dest = resolve(cwd, o.dest);
  return { options, progress };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks).toString('utf8');
}

export const buildCommand: Command = {
  name: 'build',
  usage: '[options] CONTEXT',
  details: [
    'Examples:',
    '  slipway build -t hello:1 .',
    '  slipway build -t hello:1 --output type=oci,dest=out/hello examples/hello',
    '  slipway build -t registry.example.com/app:1 --push --secret id=npm,src=$HOME/.npmrc .',
  ].join('\n'),
  options: OPTIONS,
  args: { min: 1, max: 1 },
  async run(ctx) {
    const { options, progress } = buildOptionsFromArgs(ctx);
    // mode 1: as a non-root user, re-run inside a user namespace where we are root (unpacking, mounts, RUN);
    // modes 2 and 3 (no user namespaces here) build without one
    const mode = await detectBuildMode({ isolation: options.isolation, forceInPlace: options.forceInPlace === true, env: ctx.env });
    if (mode.mode === 1) await ensureUserNamespace(process.argv, ctx.env);
    options.buildMode = mode;
    if (str(ctx, 'file') === '-') options.dockerfileText = await readAll(ctx.stdin);
    const view = createProgress({ mode: progress, stream: ctx.stderr, env: ctx.env, debug: ctx.debug });
    options.onEvent = (e) => view.event(e);
    const ac = new AbortController();
    const stop = (): void => ac.abort(new Error('interrupted'));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    options.signal = ac.signal;
    try {
      const result = await build(options);
      view.finish();
      if (progress === 'quiet') ctx.stdout.write(`${result.configDigest}\n`);
    } catch (err) {
      view.fail();
      throw err;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};
