import type { Compression, Platform } from '../oci/index.js';
import type { OutputSpec } from '../store/index.js';
import type { BuildModeReport } from '../runtime/index.js';

/**
 * Where a finished image goes: the store module's `--output` spec (oci, docker,
 * local, image/registry with push). No outputs: the local store under the tags.
 */
export type BuildOutput = OutputSpec;

/** `--secret id=ID,src=PATH` or `id=ID,env=VAR`. The value itself is read only when a RUN mounts it. */
export type SecretSource = { id: string; src: string } | { id: string; env: string };

/** `--ssh default` (the agent at $SSH_AUTH_SOCK) or `--ssh ID=PATH[,PATH]` (sockets or key files). */
export interface SshSource {
  id: string;
  paths: string[];
}

/** `none`: build mode 2, RUN steps in place in a disposable container (no namespaces). */
export type Isolation = 'oci' | 'chroot' | 'none';
export type ProgressMode = 'auto' | 'plain' | 'tty' | 'quiet';
export type NetworkMode = 'host' | 'none' | 'default';

/**
 * Options of one build: the same set `slipway build` takes on the command line,
 * already parsed. Paths are resolved by the caller (the CLI resolves them against its cwd).
 */
export interface BuildOptions {
  /** Build context directory. */
  context: string;
  /** Dockerfile path; default `<context>/Dockerfile`. Mutually exclusive with `dockerfileText`. */
  file?: string;
  /** Dockerfile contents (for `-f -`, i.e. stdin). */
  dockerfileText?: string;
  tags?: string[];
  /** `--build-arg`: value `undefined` means "declared, take from the environment or leave unset". */
  buildArgs?: Record<string, string>;
  target?: string;
  platform?: Platform;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  noCache?: boolean;
  noCacheFilter?: string[];
  pull?: boolean;
  network?: NetworkMode;
  secrets?: SecretSource[];
  ssh?: SshSource[];
  isolation?: Isolation;
  /** `--force-in-place`: allow mode 2 where `/` does not look disposable. */
  forceInPlace?: boolean;
  /** The build mode (1 rootless, 2 in-place, 3 no RUN) as detected; detected by build() when absent. */
  buildMode?: BuildModeReport;
  /** Local store root; default `$XDG_DATA_HOME/slipway`. */
  root?: string;
  outputs?: BuildOutput[];
  /** Registry access: hosts allowed over plain HTTP, extra CA files. Loopback registries are plain HTTP anyway. */
  registry?: { insecure?: string[]; tlsCa?: string[] };
  iidfile?: string;
  metadataFile?: string;
  /** Parallel independent stages (default: number of cores). */
  jobs?: number;
  compression?: Compression;
  /** gzip 1-9 / zstd 1-19 (default: the layer writer's). */
  compressionLevel?: number;
  /** Unix seconds for every mtime and `created` (SOURCE_DATE_EPOCH). */
  timestamp?: number;
  /** Environment used for `--build-arg K`, `--secret env=` and SOURCE_DATE_EPOCH. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Receives every event of the build in order. */
  onEvent?: (event: BuildEvent) => void;
  /** Aborts the build (steps are stopped, mounts removed). */
  signal?: AbortSignal;
}

/** Why a step's cache lookup missed: the first key part that differs from the nearest recorded key. */
export interface CacheMiss {
  reason: 'no-cache' | 'no-cache-filter' | 'not-found' | 'parent-missed';
  /** The key part that changed, when a previous build of the same step is known. */
  part?: string;
}

/** The typed event stream of a build. Only the CLI draws them. */
export type BuildEvent =
  | { type: 'mode'; isolation: string; rootless: boolean; storageDriver: string; root: string; mode: 1 | 2 | 3; line: string }
  | { type: 'plan'; stages: { name: string; steps: number }[] }
  | { type: 'pull'; ref: string; status: 'start' | 'done' | 'cached'; digest?: string }
  | { type: 'step-start'; id: string; stage: string; index: number; total: number; text: string; location?: string }
  | { type: 'step-cached'; id: string; key: string }
  | { type: 'step-miss'; id: string; key: string; miss: CacheMiss; parts: { name: string; value: string }[] }
  | { type: 'step-output'; id: string; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'step-done'; id: string; ms: number; cached: boolean; layer?: string }
  | { type: 'warning'; message: string }
  | { type: 'output'; output: string; ms: number }
  | { type: 'done'; digest: string; configDigest: string; outputs: string[]; ms: number };

export interface BuildResult {
  /** Digest of the image manifest. */
  digest: string;
  /** Digest of the config blob (the image ID as docker shows it). */
  configDigest: string;
  tags: string[];
  /** Human-readable destinations written, e.g. "store hello:1", "oci out/hello". */
  outputs: string[];
  /** Number of steps run and reused from the cache. */
  steps: { run: number; cached: number };
}
