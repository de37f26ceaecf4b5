import { spawn } from 'node:child_process';
import { release } from 'node:os';
import { findHostTool } from './host-tools.js';
import { chooseIsolation } from './run-step.js';
import type { Isolation } from './spec.js';
import { detectStorageDriver, type StorageDriver } from './storage.js';
import type { SubIdRange } from './subids.js';
import { inUserNamespace, rootlessPlan } from './userns.js';

/** What `slipway info` reports. Every `fixes` entry is a command to run. */
export interface RuntimeInfo {
  user: string;
  uid: number;
  /** root: real root; rootless: a user who gets a user namespace; userns: already root of one. */
  mode: 'root' | 'rootless' | 'userns';
  kernel: string;
  userNamespaces: { available: boolean; detail: string };
  subuids: SubIdRange[];
  subgids: SubIdRange[];
  idMap: 'full' | 'single' | 'host';
  storageDriver: { driver: StorageDriver; reason: string };
  isolation: Isolation;
  ociRuntime: { name: string; path: string; reason: string } | null;
  tools: Record<string, string | null>;
  fixes: string[];
}

export interface InfoOptions {
  isolation?: Isolation;
  runtime?: string;
  storageDriver?: string;
  stateDir?: string;
}

/** Probes this machine the way a build would (actually creates namespaces). */
export async function runtimeInfo(opts: InfoOptions = {}): Promise<RuntimeInfo> {
  const uid = process.getuid?.() ?? 0;
  const inNs = uid === 0 && inUserNamespace();
  const plan = rootlessPlan();
  const mode = uid !== 0 ? 'rootless' : inNs ? 'userns' : 'root';
  const fixes: string[] = [];
  const userns = await probeUserNamespace(uid);
  if (!userns.available && uid !== 0) fixes.push('as root: sysctl -w kernel.unprivileged_userns_clone=1 && sysctl -w user.max_user_namespaces=15000');
  if (uid !== 0 && !plan.full && plan.fix) fixes.push(plan.fix);
  const storage = await detectStorageDriver(opts.storageDriver);
  if (storage.driver === 'vfs' && !storage.forced) fixes.push('apt-get install fuse-overlayfs (vfs copies every layer for every step)');
  let isolation: Isolation = 'chroot';
  let ociRuntime: RuntimeInfo['ociRuntime'] = null;
  try {
    const c = await chooseIsolation({ ...(opts.isolation ? { isolation: opts.isolation } : {}), ...(opts.runtime ? { runtime: opts.runtime } : {}), ...(opts.stateDir ? { stateDir: opts.stateDir } : {}) });
    isolation = c.isolation;
    ociRuntime = c.runtime ?? null;
  } catch (e) {
    fixes.push((e as { hint?: string }).hint ?? String(e));
  }
  if (!ociRuntime && opts.isolation !== 'chroot') fixes.push('apt-get install runc (or crun) for --isolation=oci; using chroot isolation');
  const tools: Record<string, string | null> = {};
  for (const t of ['unshare', 'setpriv', 'newuidmap', 'newgidmap', 'mount', 'hostname', 'ip', 'crun', 'runc', 'fuse-overlayfs']) tools[t] = findHostTool(t) ?? null;
  for (const [t, pkg] of [['unshare', 'util-linux'], ['setpriv', 'util-linux'], ['mount', 'mount']] as const) if (!tools[t]) fixes.push(`apt-get install ${pkg}`);
  return {
    user: plan.user,
    uid,
    mode,
    kernel: release(),
    userNamespaces: userns,
    subuids: plan.subuids,
    subgids: plan.subgids,
    idMap: uid === 0 && !inNs ? 'host' : plan.full || inNs ? 'full' : 'single',
    storageDriver: { driver: storage.driver, reason: storage.reason },
    isolation,
    ociRuntime,
    tools,
    fixes: [...new Set(fixes)],
  };
}

function probeUserNamespace(uid: number): Promise<{ available: boolean; detail: string }> {
  const unshare = findHostTool('unshare');
  if (!unshare) return Promise.resolve({ available: false, detail: 'unshare not installed (apt-get install util-linux)' });
  const args = uid === 0 ? ['--user', 'true'] : ['--user', '--map-root-user', 'true'];
  return new Promise((resolve) => {
    const c = spawn(unshare, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', (e) => resolve({ available: false, detail: e.message }));
    c.on('close', (code) => resolve(code === 0 ? { available: true, detail: 'unshare --user works' } : { available: false, detail: err.trim() || `exit ${code}` }));
  });
}
