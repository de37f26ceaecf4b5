import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { findHostTool } from '../host-tools.js';
import { parseSubIds } from '../subids.js';
import { CAP_SYS_ADMIN, cgroupContainerMarker, hasCapability, parseProcStatus, parseSysctlInt, type EnvironmentFacts, type NamespaceProbe } from './facts.js';
import { parseMountInfo, rootFsTypeOf } from './mountinfo.js';
import { hostKeySources, namespaceProbeKey, probeCacheFile, recallNamespaceProbes, rememberNamespaceProbes, worthRemembering, type NamespaceProbeOutcome } from './probe-cache.js';

/** Where successful namespace probes are remembered (see probe-cache.ts). */
export interface NamespaceProbeCache {
  /** The key for this environment with this unshare binary (undefined: do not cache). */
  key(unshare: string): string | undefined;
  recall(key: string): NamespaceProbeOutcome | undefined;
  remember(key: string, outcome: NamespaceProbeOutcome): void;
}

/** Everything the probe reads from the machine; tests pass their own. */
export interface EnvironmentProbes {
  uid: number;
  user: string;
  env: Record<string, string | undefined>;
  readFile(path: string): string | undefined;
  exists(path: string): boolean;
  /** Runs argv; resolves with its exit code and stderr (code 127 when it cannot start). */
  run(argv: readonly string[]): Promise<{ code: number; stderr: string }>;
  which(name: string): string | undefined;
  /** Remembered probe outcomes; without it the namespaces are tried on every call. */
  cache?: NamespaceProbeCache;
}

function readQuiet(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

function runQuiet(argv: readonly string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stderr: e.message });
    });
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, stderr: err.trim() });
    });
  });
}

/**
 * The file-backed cache of probe outcomes for this machine; `fresh` probes anyway (and
 * remembers a success), for `slipway info`.
 */
export function hostProbeCache(env: Record<string, string | undefined>, fresh = false): NamespaceProbeCache | undefined {
  const file = probeCacheFile(env);
  if (file === undefined) return undefined;
  return {
    key: (unshare) => namespaceProbeKey(hostKeySources, unshare),
    recall: (key) => (fresh ? undefined : recallNamespaceProbes(file, key)),
    remember: (key, o) => rememberNamespaceProbes(file, key, o),
  };
}

/** The real machine; `opts.fresh` ignores remembered probe outcomes. */
export function hostProbes(env: Record<string, string | undefined> = process.env, opts: { fresh?: boolean } = {}): EnvironmentProbes {
  const uid = process.getuid?.() ?? 0;
  let user = String(uid);
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  const cache = hostProbeCache(env, opts.fresh === true);
  return { uid, user, env, readFile: readQuiet, exists: existsSync, run: runQuiet, which: (n) => findHostTool(n), ...(cache ? { cache } : {}) };
}

async function tryNamespace(p: EnvironmentProbes, unshare: string | undefined, args: string[]): Promise<NamespaceProbe | undefined> {
  if (!unshare) return undefined;
  const r = await p.run([unshare, ...args, 'true']);
  return r.code === 0 ? { ok: true } : { ok: false, error: r.stderr.replace(/^unshare:\s*/, '') || `exit ${r.code}` };
}

/** Signs of a container: files and variables engines leave behind, cgroup paths. */
export function containerMarkers(p: Pick<EnvironmentProbes, 'env' | 'exists' | 'readFile'>): string[] {
  const out: string[] = [];
  if (p.exists('/.dockerenv')) out.push('/.dockerenv exists');
  if (p.exists('/run/.containerenv')) out.push('/run/.containerenv exists');
  if (p.env.container) out.push(`$container=${p.env.container}`);
  if (p.env.KUBERNETES_SERVICE_HOST) out.push('$KUBERNETES_SERVICE_HOST is set (Kubernetes pod)');
  const cg = cgroupContainerMarker(p.readFile('/proc/1/cgroup'));
  if (cg) out.push(cg);
  return out;
}

/**
 * Tries to create the namespaces, or recalls that this worked in this very environment
 * (probe-cache.ts: successes only, keyed by every input the probes depend on).
 */
async function probeNamespaces(p: EnvironmentProbes, unshare: string | undefined): Promise<NamespaceProbeOutcome> {
  const key = unshare !== undefined ? p.cache?.key(unshare) : undefined;
  const recalled = key !== undefined ? p.cache?.recall(key) : undefined;
  if (recalled) return recalled;
  const [userNamespace, mountNamespace] = await Promise.all([
    tryNamespace(p, unshare, ['--user']),
    p.uid === 0 ? tryNamespace(p, unshare, ['--mount', '--pid', '--fork']) : Promise.resolve(undefined),
  ]);
  const outcome = { userNamespace, mountNamespace };
  if (key !== undefined && worthRemembering(p.uid, outcome)) p.cache?.remember(key, outcome);
  return outcome;
}

/**
 * Collects the facts a build mode depends on. Really tries to create the
 * namespaces (reading sysctls alone misses seccomp filters and LSMs).
 */
export async function gatherEnvironmentFacts(p: EnvironmentProbes = hostProbes()): Promise<EnvironmentFacts> {
  const unshare = p.which('unshare');
  const { userNamespace, mountNamespace } = await probeNamespaces(p, unshare);
  const status = parseProcStatus(p.readFile('/proc/self/status') ?? '');
  const uidMap = p.readFile('/proc/self/uid_map');
  const mounts = parseMountInfo(p.readFile('/proc/self/mountinfo') ?? '');
  const subuid = parseSubIds(p.readFile('/etc/subuid') ?? '', p.user, p.uid);
  const subgid = parseSubIds(p.readFile('/etc/subgid') ?? '', p.user, p.uid);
  return {
    uid: p.uid,
    user: p.user,
    userNamespace,
    mountNamespace,
    maxUserNamespaces: parseSysctlInt(p.readFile('/proc/sys/user/max_user_namespaces')),
    apparmorRestrictUserns: parseSysctlInt(p.readFile('/proc/sys/kernel/apparmor_restrict_unprivileged_userns')),
    unprivilegedUsernsClone: parseSysctlInt(p.readFile('/proc/sys/kernel/unprivileged_userns_clone')),
    seccomp: status.seccomp,
    capSysAdmin: hasCapability(status.capEff, CAP_SYS_ADMIN),
    inUserNamespace: uidMap !== undefined && !/^\s*0\s+0\s+4294967295\s*$/.test(uidMap),
    subuidCount: subuid.reduce((n, r) => n + r.count, 0),
    subgidCount: subgid.reduce((n, r) => n + r.count, 0),
    newidmap: p.which('newuidmap') !== undefined && p.which('newgidmap') !== undefined,
    containerMarkers: containerMarkers(p),
    rootFsType: rootFsTypeOf(mounts),
  };
}
