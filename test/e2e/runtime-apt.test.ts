/**
 * A RUN that installs a Debian package into a debootstrap'd minbase rootfs, rootless.
 * Opt-in locally (SLIPWAY_TEST_APT=1), always on under CI=true. The debootstrap is
 * cached in /var/cache/slipway-test/debootstrap (about 20 s the first time).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, requireTools } from '../setup/tools.js';
import { ensureTestUser, rootlessAvailable, runAsTestUser, type TestUser } from '../setup/rootless.js';

const enabled = process.env.CI === 'true' || process.env.SLIPWAY_TEST_APT === '1';
const tools = enabled ? requireTools('debootstrap', 'newuidmap', 'runc') : { ok: false };
const rootlessWhy = rootlessAvailable();
const skip = !enabled || !tools.ok || !isRoot || rootlessWhy !== null;
const CACHE = '/var/cache/slipway-test/debootstrap';

/** The machine's configured Debian mirror (deb822 URIs: or a one-line deb entry). */
function debianMirror(): string {
  const files = ['/etc/apt/sources.list', ...(existsSync('/etc/apt/sources.list.d') ? readdirSync('/etc/apt/sources.list.d').map((f) => join('/etc/apt/sources.list.d', f)) : [])];
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = /^URIs:\s*(\S+)/.exec(line) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/.exec(line);
      if (m && !/security/.test(m[1]!)) return m[1]!;
    }
  }
  return 'http://deb.debian.org/debian';
}

async function withLock<T>(lock: string, fn: () => T): Promise<T> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      // Left by a killed run: older than a debootstrap takes.
      if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 900_000) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** debootstrap --variant=minbase bookworm, once per machine. */
async function minbase(): Promise<string> {
  const dir = join(CACHE, 'bookworm-minbase');
  if (existsSync(join(dir, '.complete'))) return dir;
  mkdirSync(CACHE, { recursive: true, mode: 0o755 });
  chmodSync('/var/cache/slipway-test', 0o755);
  return withLock(`${dir}.lock`, () => {
    if (existsSync(join(dir, '.complete'))) return dir;
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    execFileSync('debootstrap', ['--variant=minbase', 'bookworm', tmp, debianMirror()], { stdio: 'ignore', timeout: 600_000 });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    writeFileSync(join(dir, '.complete'), '');
    return dir;
  });
}

/** A copy owned as extraction inside the user's namespace would own it: 0 -> user, N -> subuid + N - 1. */
async function shiftedFor(src: string, u: TestUser): Promise<string> {
  const dir = join(CACHE, `bookworm-minbase-for-${u.uid}-${u.subuidStart}-${u.subgidStart}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  return withLock(`${dir}.lock`, () => {
    if (existsSync(join(dir, '.complete'))) return dir;
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    execFileSync('cp', ['-a', src, tmp]);
    const map = (id: number, start: number, own: number) => (id === 0 ? own : start + id - 1);
    const walk = (p: string) => {
      const st = lstatSync(p);
      lchownSync(p, map(st.uid, u.subuidStart, u.uid), map(st.gid, u.subgidStart, u.gid));
      if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
    };
    walk(tmp);
    renameSync(tmp, dir);
    writeFileSync(join(dir, '.complete'), '');
    return dir;
  });
}

let lower = '';
let work = '';
let user: TestUser | undefined;
beforeAll(async () => {
  if (skip) return;
  user = ensureTestUser();
  lower = await shiftedFor(await minbase(), user);
  work = mkdtempSync('/tmp/slipway-rt-apt-');
  chmodSync(work, 0o755);
  for (const d of ['u1', 'w1', 'u2', 'w2']) mkdirSync(join(work, d));
  execFileSync('chown', ['-R', `${user.uid}:${user.gid}`, work]);
}, 900_000);
afterAll(() => {
  if (work) execFileSync('rm', ['-rf', work]);
});

describe('rootless RUN apt-get', () => {
  it.skipIf(skip)('apt-get update (oci) then install a package (chroot, on top of the first step) succeed rootless', async () => {
    const t0 = Date.now();
    const upd = await runAsTestUser(['run-step', '--isolation', 'oci', '--lower', lower, '--upper', join(work, 'u1'), '--work', join(work, 'w1'), '--', 'apt-get', 'update', '-q'], { timeoutMs: 300_000 });
    expect(upd.stderr).not.toMatch(/^E: /m);
    expect(upd.code).toBe(0);
    const inst = await runAsTestUser(
      ['run-step', '--isolation', 'chroot', '--env', 'DEBIAN_FRONTEND=noninteractive', '--lower', join(work, 'u1'), '--lower', lower, '--upper', join(work, 'u2'), '--work', join(work, 'w2'), '--', 'sh', '-c', 'apt-get install -y -q --no-install-recommends hello && hello'],
      { timeoutMs: 300_000 },
    );
    expect(inst.stderr).not.toMatch(/^E: /m);
    expect(inst.code).toBe(0);
    expect(inst.stdout).toContain('Hello, world!');
    expect(existsSync(join(work, 'u2', 'usr', 'bin', 'hello'))).toBe(true);
    expect(lstatSync(join(work, 'u2', 'usr', 'bin', 'hello')).uid).toBe(user!.uid);
    console.log(`apt test: update + install took ${Date.now() - t0} ms`);
  });
});
