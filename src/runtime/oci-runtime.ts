import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { RuntimeSetupError } from './errors.js';
import { findHostTool } from './host-tools.js';
import { environmentKey, machineCacheFile, recallMachineFact, rememberMachineFact } from './machine-cache.js';
import { ociConfig } from './oci-config.js';

export interface OciRuntimeChoice {
  path: string;
  name: string;
  /** Why this one (e.g. crun refused hybrid cgroups). */
  reason: string;
}

const CANDIDATES = ['crun', 'runc'];
const memo = new Map<string, OciRuntimeChoice | null>();

/**
 * The OCI runtime to use: --runtime PATH as given, else crun when it can run a
 * container here, else runc. crun refuses hybrid cgroup v1/v2 hosts: that is
 * detected with a throwaway container once and remembered in stateDir.
 * Returns undefined when none is installed.
 */
export async function chooseOciRuntime(forced: string | undefined, stateDir: string | undefined): Promise<OciRuntimeChoice | undefined> {
  if (forced) {
    const path = findHostTool(forced);
    if (!path) throw new RuntimeSetupError(`OCI runtime "${forced}" not found`, 'pass an executable path to --runtime, or install crun or runc');
    return { path, name: basename(path), reason: 'forced by --runtime' };
  }
  const key = stateDir ?? '';
  if (memo.has(key)) return memo.get(key) ?? undefined;
  const remembered = stateDir ? readRemembered(stateDir) : undefined;
  if (remembered) {
    memo.set(key, remembered);
    return remembered;
  }
  // another store's probe on this machine, in this same environment (a new --root need not probe again)
  const machine = runtimeCacheFile(process.env);
  const envKey = machine !== undefined ? runtimeEnvironmentKey() : '';
  const known = machine !== undefined ? recallMachineChoice(machine, envKey) : undefined;
  if (known) {
    if (stateDir) remember(stateDir, known);
    const c = { ...known, reason: `${known.reason} (remembered)` };
    memo.set(key, c);
    return c;
  }
  const skipped: string[] = [];
  let choice: OciRuntimeChoice | undefined;
  for (const name of CANDIDATES) {
    const path = findHostTool(name);
    if (!path) {
      skipped.push(`${name}: not installed`);
      continue;
    }
    const problem = await probeRuntime(path, stateDir);
    if (problem === undefined) {
      choice = { path, name, reason: skipped.length ? `${skipped.join('; ')}` : `first of ${CANDIDATES.join(', ')}` };
      break;
    }
    skipped.push(`${name}: ${problem}`);
  }
  memo.set(key, choice ?? null);
  if (choice && stateDir) remember(stateDir, choice);
  if (choice && machine !== undefined) rememberMachineChoice(machine, envKey, choice);
  return choice;
}

/** The machine cache file of the runtime choice (see machine-cache.ts). */
export function runtimeCacheFile(env: Record<string, string | undefined>): string | undefined {
  return machineCacheFile(env, 'oci-runtime');
}

/** What a runtime probe's outcome depends on: the environment and each candidate binary. */
export function runtimeEnvironmentKey(): string {
  return environmentKey(CANDIDATES.map((n) => findHostTool(n)));
}

/** The choice remembered for `key`, if fresh and still the installed candidate of that name (the file names a program to run). */
export function recallMachineChoice(file: string, key: string, now = Date.now()): OciRuntimeChoice | undefined {
  const e = recallMachineFact<Partial<OciRuntimeChoice>>(file, key, now);
  if (!e || typeof e.name !== 'string' || typeof e.path !== 'string' || typeof e.reason !== 'string') return undefined;
  if (!CANDIDATES.includes(e.name) || findHostTool(e.name) !== e.path) return undefined;
  return { path: e.path, name: e.name, reason: e.reason };
}

/** Remembers `c` under `key`; best effort. */
export function rememberMachineChoice(file: string, key: string, c: OciRuntimeChoice, now = Date.now()): void {
  rememberMachineFact(file, key, { path: c.path, name: c.name, reason: c.reason }, now);
}

function rememberFile(stateDir: string): string {
  return join(stateDir, 'oci-runtime.json');
}

function fingerprint(path: string): string {
  try {
    const st = statSync(path);
    return `${path}:${st.size}:${st.mtimeMs}:${process.getuid?.()}`;
  } catch {
    return path;
  }
}

function readRemembered(stateDir: string): OciRuntimeChoice | undefined {
  try {
    const r = JSON.parse(readFileSync(rememberFile(stateDir), 'utf8')) as OciRuntimeChoice & { fingerprint: string };
    if (r.fingerprint === fingerprint(r.path)) return { path: r.path, name: r.name, reason: `${r.reason} (remembered)` };
  } catch {
    /* none yet */
  }
  return undefined;
}

function remember(stateDir: string, c: OciRuntimeChoice): void {
  try {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(rememberFile(stateDir), JSON.stringify({ ...c, fingerprint: fingerprint(c.path) }));
  } catch {
    /* best effort */
  }
}

/**
 * Runs a container whose process does not exist: a runtime that works fails
 * at exec ("no such file"); one that cannot run containers here fails before
 * (cgroups, namespaces). Returns the reason it cannot be used, or undefined.
 */
async function probeRuntime(path: string, stateDir: string | undefined): Promise<string | undefined> {
  const base = stateDir ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'probe-'));
  try {
    mkdirSync(join(dir, 'rootfs'));
    const uid = process.getuid?.() ?? 0;
    const userns = uid !== 0 || readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/)[2] !== '4294967295';
    // A non-root caller (slipway info) probes from a throwaway single-ID user namespace.
    const unshare = findHostTool('unshare');
    const prefix = uid !== 0 && unshare ? [unshare, '--map-root-user', '--mount', '--'] : [];
    const cfg = ociConfig({
      rootfs: join(dir, 'rootfs'), argv: ['/slipway-probe'], env: [], cwd: '/', uid: 0, gid: 0, additionalGids: [],
      hostname: 'probe', network: 'host', extraMounts: [], nofile: 1024, userns, singleIdMap: uid !== 0, pidNamespace: true,
    });
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    const { code, stderr } = await run(prefix[0] ?? path, [...prefix.slice(1), ...(prefix.length ? [path] : []), '--root', join(dir, 'state'), 'run', '--bundle', dir, `slipway-probe-${process.pid}`]);
    if (code === 0) return undefined;
    if (/slipway-probe.*(no such file|not found)|executable file not found|no such file or directory/i.test(stderr) && !/cgroup/i.test(stderr)) return undefined;
    await run(path, ['--root', join(dir, 'state'), 'delete', '--force', `slipway-probe-${process.pid}`]).catch(() => undefined);
    return stderr.trim().split('\n').pop()?.slice(0, 200) || `exit ${code}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', (e) => resolve({ code: 127, stderr: e.message }));
    c.on('close', (code) => resolve({ code: code ?? 1, stderr }));
  });
}
