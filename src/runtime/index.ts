/**
 * runtime: RUN steps in containers, rootless.
 *
 * Call order for a build (the executor):
 *   1. CLI: `await ensureUserNamespace(process.argv)` before anything else (see userns.ts):
 *      afterwards the process is root (real, or of a user namespace) with a private mount namespace.
 *   2. `detectStorageDriver(flag)` once: overlay | fuse-overlayfs | vfs.
 *   3. Per RUN: `runStep({ rootfs: { lowers /* topmost first *\/, upper, work } | dir, argv, env, args,
 *      cwd, user, mounts, network, hostname, location }, { stdout, stderr, signal }, { isolation, runtime,
 *      storageDriver, stateDir, log })` -> `{ exitCode, createdPaths, mirroredPaths, excludedPaths }`.
 *      Mounts exist only inside the step's own namespaces: nothing to unmount afterwards.
 *   4. Snapshot the upper dir (opaque-dir xattr name: overlayMountPlan(...).opaqueXattr), leaving out
 *      `excludedPaths` (RUNTIME_EXCLUDED_PATHS) and `createdPaths` (mount points runStep made: drop a
 *      created file if empty, a created dir if nothing else was written in it; `mirroredPaths`: lower dirs runStep copied up to
 *      hold them, left out when mode/owner are unchanged and all they hold is left out).
 *   vfs: `copyRootfsVfs(mergedDir, stepDir)` and pass the dir as rootfs.
 */
export type { RunSpec, RunMount, RunIO, RuntimeOptions, StepResult, Isolation as RunIsolation, NetworkMode as RunNetworkMode } from './spec.js';
export { RUNTIME_EXCLUDED_PATHS } from './spec.js';
export { runStep, chooseIsolation } from './run-step.js';
export { ensureUserNamespace, inUserNamespace, reexecInUserNamespace, rootlessPlan, USERNS_ENV } from './userns.js';
export type { UserNamespaceState, UserNamespaceMode, RootlessPlan, EnsureOptions } from './userns.js';
export type { SubIdRange, IdMapping } from './subids.js';
export { detectStorageDriver, overlayMountPlan, writeMountLinks, mountCommand, mountRootfs, unmountRootfs, copyRootfsVfs, STORAGE_DRIVERS } from './storage.js';
export type { StorageDriver, OverlayLayout, MountPlan, StorageDetection } from './storage.js';
export { chooseOciRuntime } from './oci-runtime.js';
export type { OciRuntimeChoice } from './oci-runtime.js';
export { RootfsView } from './rootfs-view.js';
export { lowerOpaqueDirsOnDisk } from './opaque-dirs.js';
export type { MirroredDir, TouchedDir } from './rootfs-view.js';
export { resolveUserSpec as resolveRunUser } from './user.js';
export type { ResolvedUser } from './user.js';
export { stepEnvironment, DEFAULT_PATH } from './env.js';
export { UnknownUserError, RuntimeSetupError, StepCancelledError } from './errors.js';
export { runtimeInfo } from './info.js';
export type { RuntimeInfo } from './info.js';
export * from './modes/index.js';
