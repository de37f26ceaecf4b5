import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from './capabilities.js';
import type { NetworkMode } from './spec.js';
import type { IdMapping } from './subids.js';

/** A runtime-spec mount. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciConfigInput {
  rootfs: string;
  argv: readonly string[];
  env: readonly string[];
  cwd: string;
  uid: number;
  gid: number;
  additionalGids: readonly number[];
  hostname: string;
  network: NetworkMode;
  /** Binds/tmpfs after the standard ones (etc files, RUN --mount). */
  extraMounts: readonly OciMount[];
  /** RLIMIT_NOFILE for the step: never above the caller's hard limit. */
  nofile: number;
  /** Running as root of a user namespace (not real root): no mknod, /sys bound unless a new netns. */
  userns: boolean;
  /** Single-ID map: gid=5 for devpts is not mapped. */
  singleIdMap: boolean;
  /** Give the container its own user namespace with these maps (unused when the caller already is in one). */
  idMaps?: { uid: IdMapping[]; gid: IdMapping[] };
  /** Give the container its own PID namespace (off: slipway's init is PID 1 and runc joins its namespace). */
  pidNamespace?: boolean;
}

/** The config.json of an OCI runtime-spec bundle for one step. */
export function ociConfig(i: OciConfigInput): Record<string, unknown> {
  const caps = i.uid === 0 ? [...DEFAULT_CAPABILITIES] : [];
  const namespaces: { type: string }[] = [{ type: 'mount' }, { type: 'uts' }, { type: 'ipc' }];
  if (i.pidNamespace) namespaces.push({ type: 'pid' });
  if (i.network === 'none') namespaces.push({ type: 'network' });
  if (i.idMaps) namespaces.push({ type: 'user' });
  const sysfs: OciMount =
    i.userns && i.network !== 'none'
      ? { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] };
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(i.singleIdMap ? [] : ['gid=5'])] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    sysfs,
    ...i.extraMounts,
  ];
  const linux: Record<string, unknown> = {
    namespaces,
    maskedPaths: [...MASKED_PATHS],
    readonlyPaths: [...READONLY_PATHS],
  };
  if (i.idMaps) {
    linux.uidMappings = i.idMaps.uid.map((m) => ({ containerID: m.containerID, hostID: m.hostID, size: m.size }));
    linux.gidMappings = i.idMaps.gid.map((m) => ({ containerID: m.containerID, hostID: m.hostID, size: m.size }));
  }
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: i.uid, gid: i.gid, ...(i.additionalGids.length > 0 ? { additionalGids: [...i.additionalGids] } : {}) },
      args: [...i.argv],
      env: [...i.env],
      cwd: i.cwd,
      capabilities: { bounding: [...DEFAULT_CAPABILITIES], effective: caps, permitted: caps, inheritable: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: i.nofile, soft: i.nofile }],
      noNewPrivileges: true,
    },
    root: { path: i.rootfs, readonly: false },
    hostname: i.hostname,
    mounts,
    linux,
  };
}
