import type { MirroredDir, TouchedDir } from './rootfs-view.js';
import type { OverlayLayout, StorageDriver } from './storage.js';

export type Isolation = 'oci' | 'chroot';
export type NetworkMode = 'host' | 'none';

/** Something mounted into the step (RUN --mount and the executor's own needs). */
export interface RunMount {
  /** bind: a host path; cache: a host dir, created if missing; tmpfs: an empty tmpfs. */
  type: 'bind' | 'cache' | 'tmpfs';
  /** Host path (bind, cache). */
  source?: string;
  /** Absolute container path. */
  target: string;
  readonly?: boolean;
  /** tmpfs size in bytes. */
  size?: number;
}

/** One RUN step. */
export interface RunSpec {
  /** A directory used as the rootfs (written to in place), or an overlay layout (changes land in upper). */
  rootfs: string | OverlayLayout;
  /** Exec form: argv[0] is looked up on the container PATH. Shell form is the caller's job (SHELL + command). */
  argv: readonly string[];
  /** Image config Env (KEY=VALUE). */
  env?: readonly string[];
  /** Build ARGs in scope (env for this step only; ENV of the same name wins). */
  args?: Readonly<Record<string, string>>;
  /** WORKDIR (absolute; created if missing, owned by the step's user). Default "/". */
  cwd?: string;
  /** USER: name|uid[:group|gid]. Default root. */
  user?: string;
  mounts?: readonly RunMount[];
  /** Default host. */
  network?: NetworkMode;
  /** Default: 12 random hex digits. */
  hostname?: string;
  /** Where the step comes from, for errors (e.g. "Dockerfile:12"). */
  location?: string;
  /**
   * Overlay rootfs: the opaque dirs ("/data") of each lower, in `lowers` order.
   * USER and cwd are resolved by reading the lowers, and their opaque xattrs are
   * invisible to Node: without this, files an opaque dir hides would be seen.
   */
  lowerOpaqueDirs?: readonly (ReadonlySet<string> | undefined)[];
}

/** Live output and cancellation. */
export interface RunIO {
  stdout?: (chunk: Buffer) => void;
  stderr?: (chunk: Buffer) => void;
  /** Aborting kills the step's whole process tree, unmounts everything and removes temp dirs. */
  signal?: AbortSignal;
}

/** How steps run (the same for a whole build). */
export interface RuntimeOptions {
  /** Default: oci when crun/runc is installed, else chroot. */
  isolation?: Isolation;
  /** --runtime PATH: force this OCI runtime (no probing). */
  runtime?: string;
  /** How an overlay rootfs is mounted (default: detectStorageDriver()). 'vfs' is invalid with an overlay rootfs. */
  storageDriver?: StorageDriver;
  /** Dir for per-step temp dirs, OCI state and the remembered runtime choice (default os.tmpdir()). */
  stateDir?: string;
  /** --debug lines. */
  log?: (line: string) => void;
}

export interface StepResult {
  /** The main process's exit status; 128+N when killed by signal N. */
  exitCode: number;
  /**
   * Container paths this step created in the rootfs's writable layer only as
   * mount points (e.g. /etc/hosts, a missing /proc, a bind target): the
   * snapshotter must leave them out unless the step itself wrote them.
   */
  createdPaths: string[];
  /**
   * Dirs of the lower layers runStep mirrored into the writable layer (overlay
   * upper) to create mount points in them, with the mode and owner it gave
   * them: a copy-up of runStep's own. Leave such a dir out when its mode and
   * owner are unchanged and everything in it is left out too.
   */
  mirroredPaths: MirroredDir[];
  /**
   * Dirs already in the writable layer that runStep put mount points in (a vfs
   * rootfs: /etc for /etc/hosts), with their times before and their mtime after
   * runStep's writes: once the untouched mount points are removed, a dir whose
   * mtime the step left at `setupMtimeMs` gets its old times back, so a tree
   * diff does not see runStep's writes as a change of the step's.
   */
  touchedDirs: TouchedDir[];
  /** Container paths bind-mounted from generated files: never capture them (RUNTIME_EXCLUDED_PATHS). */
  excludedPaths: readonly string[];
  /**
   * Overlay rootfs only: how the upper dir marks changes. Whiteouts are 0:0 char
   * devices; opaque dirs carry this xattr = "y" (user.overlay.opaque in a user namespace).
   */
  overlay?: { driver: 'overlay' | 'fuse-overlayfs'; opaqueXattr: string };
}

/** Generated per step and bind-mounted; never part of a layer. */
export const RUNTIME_EXCLUDED_PATHS: readonly string[] = ['/etc/hosts', '/etc/resolv.conf', '/etc/hostname'];
