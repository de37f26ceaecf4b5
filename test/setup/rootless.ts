/**
 * A real non-root user for rootless tests (CI runs as root).
 *
 *   ensureTestUser()     creates `slipway-test` (home /home/slipway-test) with
 *                        /etc/subuid and /etc/subgid ranges, idempotently; root only.
 *   installForTestUser() `npm pack`s the built repo and installs the tarball under
 *                        /tmp (mode 755: CI's clone may sit under /root, which the
 *                        user cannot read). Once per build: keyed by a hash of
 *                        dist/, bin/ and package.json, guarded by a lock dir, so
 *                        parallel workers share one install.
 *   runAsTestUser(args)  runs that install's CLI as the user (setpriv, no fork:
 *                        the child's pid IS slipway's, so signals reach it);
 *                        resolves {code, stdout, stderr} like test/helpers/cli.ts.
 *   spawnAsTestUser(args) the same, returning the ChildProcess.
 *   rootlessAvailable()  null when usable, else the reason (not root, no newuidmap...).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, type CliResult } from '../helpers/cli.js';
import { haveTool } from './tools.js';

export const TEST_USER = 'slipway-test';
export const TEST_HOME = `/home/${TEST_USER}`;

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  subuidStart: number;
  subgidStart: number;
}

/** null when rootless tests can run here, else why not. */
export function rootlessAvailable(): string | null {
  if (process.getuid?.() !== 0) return 'the test suite is not running as root (cannot create the test user)';
  for (const t of ['useradd', 'newuidmap', 'newgidmap', 'setpriv', 'unshare']) if (!haveTool(t)) return `${t} is not installed`;
  return null;
}

function firstRange(file: string, name: string): number | undefined {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(':')[1]) : undefined;
}

function freeStart(file: string): number {
  let end = 100000;
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    const [, s, c] = l.split(':');
    if (s && c) end = Math.max(end, Number(s) + Number(c));
  }
  return end;
}

/** A second user that has NO subordinate ranges (single-ID map tests). */
export const NOSUB_USER = 'slipway-nosub';

/**
 * Creates the test user (idempotent) with subordinate ranges, or with none
 * (`withRanges` false: any ranges useradd assigned are removed).
 */
export function ensureTestUser(name = TEST_USER, withRanges = true): TestUser {
  let ids: string;
  try {
    ids = execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    try {
      execFileSync('useradd', ['--create-home', '--home-dir', `/home/${name}`, '--shell', '/bin/sh', name], { stdio: 'ignore' });
    } catch {
      /* another test worker created it at the same moment: the id below tells */
    }
    ids = execFileSync('id', ['-u', name], { encoding: 'utf8' });
  }
  const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }));
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    if (!existsSync(f)) writeFileSync(f, '');
    if (withRanges && firstRange(f, name) === undefined) writeFileSync(f, `${name}:${freeStart(f)}:65536\n`, { flag: 'a' });
    if (!withRanges && firstRange(f, name) !== undefined) {
      writeFileSync(f, readFileSync(f, 'utf8').split('\n').filter((l) => !l.startsWith(`${name}:`)).join('\n'));
    }
  }
  return { name, uid: Number(ids), gid, subuidStart: firstRange('/etc/subuid', name) ?? -1, subgidStart: firstRange('/etc/subgid', name) ?? -1 };
}

function buildHash(): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else h.update(`${p}:${st.size}:${st.mtimeMs}\n`);
    }
  };
  walk(join(REPO_ROOT, 'dist'));
  walk(join(REPO_ROOT, 'bin'));
  h.update(readFileSync(join(REPO_ROOT, 'package.json')));
  return h.digest('hex').slice(0, 16);
}

let installed: string | undefined;

/** Path of bin/slipway.js in a world-readable install of this build (see top). */
export async function installForTestUser(): Promise<string> {
  if (installed) return installed;
  const dir = `/tmp/slipway-test-install-${buildHash()}`;
  const bin = join(dir, 'node_modules', 'slipway', 'bin', 'slipway.js');
  const marker = join(dir, '.installed');
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 240_000;
  while (!existsSync(marker)) {
    try {
      mkdirSync(lock);
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      // A lock left by a killed test run: older than the longest install takes.
      if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 300_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    try {
      if (existsSync(marker)) break;
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      const tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
      writeFileSync(join(dir, 'package.json'), '{"name":"slipway-test-install","private":true}\n');
      execFileSync('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tgz)], { cwd: dir, stdio: 'ignore' });
      execFileSync('chmod', ['-R', 'a+rX', dir]);
      chmodSync(dir, 0o755);
      writeFileSync(marker, new Date().toISOString());
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
  installed = bin;
  return bin;
}

export interface AsUserOptions {
  /** Default TEST_USER. */
  user?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Spawns the installed CLI as the test user; the returned child's pid is slipway's own. */
export async function spawnAsTestUser(args: readonly string[], opts: AsUserOptions = {}): Promise<ChildProcess> {
  const bin = await installForTestUser();
  const name = opts.user ?? TEST_USER;
  const env = {
    PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin',
    HOME: `/home/${name}`,
    USER: name,
    LOGNAME: name,
    ...opts.env,
  };
  return spawn('setpriv', ['--reuid', name, '--regid', name, '--init-groups', '--', process.execPath, bin, ...args], {
    cwd: opts.cwd ?? '/tmp',
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the installed CLI as the test user. */
export async function runAsTestUser(args: readonly string[], opts: AsUserOptions = {}): Promise<CliResult> {
  const child = await spawnAsTestUser(args, opts);
  return collect(child, opts.timeoutMs ?? 110_000);
}

/** Waits for a child and gathers its output. */
export function collect(child: ChildProcess, timeoutMs = 110_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/**
 * A minimal rootfs for runtime tests: /bin/busybox (static) with its applets as
 * symlinks, /etc/passwd with root and `user` (1000), /etc/group with `user`
 * (1000) and `extra` (2000, member user). No /etc/hosts. `hostId` maps a
 * container ID to the host ID that owns files (rootless: 0 -> the test user,
 * N -> subordinate start + N - 1), as extraction inside the namespace would.
 */
export function makeBusyboxRootfs(dir: string, hostId: (id: number) => number = (id) => id): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  for (const d of ['etc', 'tmp', 'root', 'home/user', 'proc', 'sys', 'dev']) mkdirSync(join(dir, d), { recursive: true });
  execFileSync('cp', ['/bin/busybox', join(dir, 'bin', 'busybox')]);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nuser:x:1000:\nextra:x:2000:user\n');
  chmodSync(join(dir, 'tmp'), 0o1777);
  execFileSync('chown', ['-R', '-h', `${hostId(0)}:${hostId(0)}`, dir]);
  execFileSync('chown', ['-R', `${hostId(1000)}:${hostId(1000)}`, join(dir, 'home/user')]);
  return dir;
}
