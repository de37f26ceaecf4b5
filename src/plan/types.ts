/**
 * The build plan: what the executor (src/build) runs. A Plan is plain data
 * (JSON-serializable); `slipway plan` prints it.
 *
 * Contract for the executor:
 * - `plan.stages` holds only the stages the target needs, dependencies first
 *   (Dockerfile order where the DAG allows). `plan.levels`
 *   groups them (by `index`) into waves that may run in parallel.
 * - Every value in a Step is already expanded (ARG/ENV applied where the
 *   Dockerfile reference expands); RUN/CMD/ENTRYPOINT command text is NOT
 *   expanded (the shell does that at run time).
 * - Stages refer to each other by `index` (the stage's position in the
 *   Dockerfile, the number `COPY --from=<n>` uses), never by name.
 * - Cache keys: `step.cache.parts` is the readable list, `step.cache.key` the
 *   sha256 over parts. COPY/ADD from the build context and anything after it
 *   have `key: undefined` until `resolveCacheKeys(plan, hasher)` fills them in
 *   (content hashes come from src/context, computed lazily). Secrets and
 *   build-arg values never appear in clear in parts (values are hashed).
 */
import type { Heredoc, Location } from '../dockerfile/types.js';


/** Where a stage starts from. `ref` is the expanded FROM word, as written (the executor parses it). */
export type StageBase =
  | { kind: 'scratch' }
  /** A registry reference (`busybox`, `docker.io/library/alpine:3.20@sha256:...`), or a local source: `oci:DIR[:tag]`, `oci-archive:FILE[:tag]`. */
  | { kind: 'image'; ref: string }
  /** Another stage of this Dockerfile (FROM <stage name>). */
  | { kind: 'stage'; stage: number };

/** One readable input of a cache key. `value` is what was hashed (build-arg values appear only as `sha256:` digests). */
export interface CacheKeyPart {
  name: string;
  value: string;
  /** True while the value is not known yet (context content, a stage's final key); `value` is then a description. */
  pending?: boolean;
  /** The part is the content hash of these build-context sources (`resolveCacheKeys` asks its hasher). */
  context?: ContextSelection;
  /** The part is the final cache key of this stage (COPY --from, RUN --mount from, FROM <stage>). */
  stage?: number;
}

/** Build-context files a step reads: COPY/ADD sources or a RUN bind mount's source. */
export interface ContextSelection {
  /** Source paths/patterns relative to the context root (docker wildcard rules). */
  sources: string[];
  /** `--exclude` patterns. */
  exclude: string[];
  /** COPY --parents: keep the source's parent directories. */
  parents: boolean;
}

export interface CacheInfo {
  parts: CacheKeyPart[];
  /** `sha256:<hex>` over the parts (and the parent key). Undefined while any part, or the parent, is pending. */
  key?: string;
}

/** A RUN --mount, already expanded and validated. */
export interface RunMount {
  type: 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
  target?: string;
  source?: string;
  /** `from=`: a stage index, or an image reference string. Undefined means the build context (bind) or nothing. */
  from?: { stage: number } | { image: string };
  readonly: boolean;
  /** cache: `id=`; secret/ssh: the id (defaults applied: secret id = basename of target, ssh id = "default"). */
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  required?: boolean;
  /** tmpfs size in bytes. */
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  /** secret: expose as this environment variable. */
  env?: string;
}

interface StepBase {
  location: Location;
  /** Normalized, expanded instruction for display and history, e.g. `COPY --chown=1:1 a b /dst`. */
  instruction: string;
  /** Text for the image history `created_by` (docker's spelling: `RUN |1 FOO=bar /bin/sh -c ...`). Proxy args never appear. */
  createdBy: string;
  /** Whether the step produces a filesystem layer (RUN, COPY, ADD, WORKDIR when it creates the dir). */
  layer: boolean;
  /** Came from an ONBUILD trigger of the base stage. */
  onbuild?: boolean;
  cache: CacheInfo;
}

/** Process environment contributed by the Dockerfile at this point. */
export interface StepEnv {
  /** ENV values set in this stage (and parent stages), in order, `KEY=VALUE`; the executor applies them over the base image config's Env. */
  env: string[];
  /** ARG values visible to RUN (not persisted in the image), `KEY=VALUE`; names also set by ENV are left out (ENV wins). */
  args: string[];
  /** Predefined proxy args from --build-arg (HTTP_PROXY family): RUN sees them; not in history, not in cache keys. */
  proxy: string[];
}

export interface RunStep extends StepBase {
  kind: 'run';
  /** Exec form: argv as written. Shell form: `[commandText]`, run with `shell`. */
  form: 'shell' | 'exec';
  args: string[];
  /** The shell in force (SHELL instruction), undefined = the base image's or `/bin/sh -c`. */
  shell?: string[];
  heredocs: Heredoc[];
  /**
   * Files the command needs, as BuildKit derives them from heredocs: e.g. `RUN <<EOF` with a `#!` body becomes
   * `/dev/pipes/EOF` (mode 0755, mounted read-only) and `args` runs that path. Usually empty.
   */
  inlineFiles: { path: string; data: string; mode: number }[];
  mounts: RunMount[];
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
  /** Working directory in force (absolute), undefined = base image's. */
  workdir?: string;
  /** USER in force, undefined = base image's. */
  user?: string;
  env: StepEnv;
}

/** One source of a COPY/ADD. */
export type CopySource =
  /** A path or wildcard pattern, relative to the context root or to `from`'s root; list it with context `selectSources`. */
  | { kind: 'path'; path: string }
  /** ADD only: a remote file. */
  | { kind: 'url'; url: string }
  /** ADD only: a git repository (`git@...`, `https://...git`, `...#ref`). */
  | { kind: 'git'; url: string }
  /** A heredoc; `data` already expanded when the delimiter was unquoted. */
  | { kind: 'inline'; path: string; data: string };

export interface CopyStep extends StepBase {
  kind: 'copy' | 'add';
  /** Undefined = the build context. */
  from?: { stage: number } | { image: string };
  sources: CopySource[];
  /** Expanded destination as written (may be relative to `workdir`; a trailing `/` means a directory). */
  dest: string;
  workdir?: string;
  chown?: string;
  /** Octal (`0755`) or symbolic (`u+x,g-w`) as written, expanded. */
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
  /** ADD only. */
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
}

export interface WorkdirStep extends StepBase {
  kind: 'workdir';
  /** Absolute, cleaned path (relative WORKDIR resolved against the previous one; `/` when none known). */
  path: string;
  /** True when the previous workdir was unknown (base image's) and `path` came from a relative WORKDIR: resolve against the base image's WorkingDir. */
  relativeToBase?: string;
  user?: string;
}

/** Image-config changes; no layer. */
export type ConfigChange =
  | { op: 'env'; pairs: [string, string][] }
  | { op: 'label'; pairs: [string, string][] }
  | { op: 'user'; user: string }
  | { op: 'expose'; ports: string[] }
  | { op: 'volume'; paths: string[] }
  | { op: 'cmd'; form: 'shell' | 'exec'; args: string[] }
  | { op: 'entrypoint'; form: 'shell' | 'exec'; args: string[] }
  | { op: 'shell'; shell: string[] }
  | { op: 'stopsignal'; signal: string }
  | { op: 'healthcheck'; test: string[]; interval?: number; timeout?: number; startPeriod?: number; startInterval?: number; retries?: number }
  | { op: 'onbuild'; expression: string }
  /** ARG: only history and the args of later steps change. */
  | { op: 'arg'; names: string[] };

export interface ConfigStep extends StepBase {
  kind: 'config';
  change: ConfigChange;
  /** For cmd/entrypoint shell form: the shell in force (else the base image's or `/bin/sh -c`). */
  shell?: string[];
}

/** Everything a stage does after FROM, in order. */
export type Step = RunStep | CopyStep | WorkdirStep | ConfigStep;

export interface PlanStage {
  /** Position in the Dockerfile (0-based); what `COPY --from=<n>` and `StageBase.stage` refer to. */
  index: number;
  /** `AS name` (lowercase), if any. */
  name?: string;
  base: StageBase;
  /** Expanded `FROM --platform=`, if given. */
  platform?: string;
  /** Indexes of the stages this one needs (base stage, COPY --from, RUN --mount from). */
  dependsOn: number[];
  /** Image references used by COPY --from / RUN --mount from that are not stages. */
  imageDeps: string[];
  location: Location;
  steps: Step[];
  /** Cache key of the stage's base (parent of its first step). */
  baseKey: CacheInfo;
}

export interface PlanWarning {
  code: string;
  message: string;
  location?: Location;
}

export interface Plan {
  /** Stages the target needs, dependencies first (Dockerfile order where the DAG allows). */
  stages: PlanStage[];
  /** Index (Dockerfile position) of the target stage. */
  target: number;
  /** Stage indexes grouped into waves: every stage of wave n depends only on stages of earlier waves. */
  levels: number[][];
  /** Global ARG values after --build-arg (names only; values are hashed in cache keys). */
  buildArgs: string[];
  /** Unused --build-arg, unset variables met during expansion, deprecated forms. */
  warnings: PlanWarning[];
  /** Escape character of the Dockerfile (for executors that re-lex ONBUILD triggers). */
  escape: '\\' | '`';
}


/** What the executor may tell the planner about a resolved base image (all optional). */
export interface BaseImageInfo {
  /** Manifest digest: goes into the stage's base cache key so a moved tag invalidates the cache. */
  digest?: string;
  /** Config Env (`K=V`): visible to expansion in the stage, as BuildKit does. */
  env?: string[];
  workingDir?: string;
  user?: string;
  shell?: string[];
  /** Config OnBuild triggers: planned as steps (marked `onbuild`) right after FROM. */
  onBuild?: string[];
}

export interface PlanOptions {
  /** Stage name to build; default the last stage. */
  target?: string;
  /** --build-arg values. */
  buildArgs?: Record<string, string>;
  /** Platform of the machine building (BUILDPLATFORM...); default the host's. */
  buildPlatform?: import('../oci/types.js').Platform;
  /** Platform of the image built (TARGETPLATFORM...); default buildPlatform. */
  targetPlatform?: import('../oci/types.js').Platform;
  /**
   * --timestamp / SOURCE_DATE_EPOCH (seconds): layers built under it have clamped file times and
   * history, so it is part of every stage's base key (a layer built without it is never reused
   * under it, and the reverse).
   */
  timestamp?: number;
  /** Looks up a base image by its expanded FROM reference (after a first plan, the executor may plan again with this). */
  baseImage?: (ref: string) => BaseImageInfo | undefined;
}
