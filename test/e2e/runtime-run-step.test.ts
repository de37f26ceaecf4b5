import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO_ROOT, slipway, type CliResult } from '../helpers/cli.js';
import { requireTools, isRoot } from '../setup/tools.js';
import { collect, ensureTestUser, makeBusyboxRootfs, rootlessAvailable, runAsTestUser, spawnAsTestUser, type TestUser } from '../setup/rootless.js';

const tools = requireTools('unshare', 'setpriv', 'newuidmap', 'runc', 'busybox');
const rootlessWhy = rootlessAvailable();
if (rootlessWhy && process.env.CI === 'true') throw new Error(`CI=true but rootless runtime tests cannot run: ${rootlessWhy}`);

type Who = 'root' | 'rootless';
const MATRIX: [Who, 'oci' | 'chroot'][] = [
  ['root', 'oci'],
  ['root', 'chroot'],
  ['rootless', 'oci'],
  ['rootless', 'chroot'],
];

let base = '';
let user: TestUser | undefined;

beforeAll(() => {
  if (!tools.ok || !isRoot) return;
  base = mkdtempSync('/tmp/slipway-rt-e2e-');
  chmodSync(base, 0o755);
  makeBusyboxRootfs(join(base, 'lower-root'));
  if (!rootlessWhy) {
    user = ensureTestUser();
    const u = user;
    makeBusyboxRootfs(join(base, 'lower-rootless'), (id) => (id === 0 ? u.uid : u.subuidStart + id - 1));
  }
});

afterAll(() => {
  if (base) execFileSync('rm', ['-rf', base]);
});

describe.each(MATRIX)('run-step as %s with --isolation=%s', (who, isolation) => {
  const skip = !tools.ok || !isRoot || (who === 'rootless' && rootlessWhy !== null);
  let n = 0;
  /** A fresh overlay (shared busybox lower, new upper) and state dir, owned by whoever runs slipway. */
  function fresh(): { upper: string; args: string[]; state: string } {
    const d = join(base, `${who}-${isolation}-${n++}`);
    for (const s of ['upper', 'work', 'state']) mkdirSync(join(d, s), { recursive: true });
    if (who === 'rootless') execFileSync('chown', ['-R', `${user!.uid}:${user!.gid}`, d]);
    const lower = join(base, `lower-${who}`);
    return { upper: join(d, 'upper'), state: join(d, 'state'), args: ['run-step', '--root', join(d, 'state'), '--isolation', isolation, '--lower', lower, '--upper', join(d, 'upper'), '--work', join(d, 'work')] };
  }
  const run = (args: string[]): Promise<CliResult> => (who === 'root' ? slipway(args) : runAsTestUser(args));
  const start = (args: string[]): Promise<ChildProcess> =>
    who === 'root' ? Promise.resolve(spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })) : spawnAsTestUser(args);
  /** Host uid a container uid shows up as. */
  const hostUid = (id: number) => (who === 'root' ? id : id === 0 ? user!.uid : user!.subuidStart + id - 1);

  it.skipIf(skip)('chown 1000:1000 inside gives uid 1000 in the namespace, not the caller', async () => {
    const f = fresh();
    const r = await run([...f.args, '--', 'sh', '-c', 'mkdir /data && touch /data/f && chown 1000:1000 /data/f && stat -c %u:%g /data/f']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('1000:1000');
    const st = statSync(join(f.upper, 'data', 'f'));
    expect(`${st.uid}:${st.gid}`).toBe(`${hostUid(1000)}:${hostUid(1000)}`);
    expect(statSync(join(f.upper, 'data')).uid).toBe(hostUid(0));
  });

  it.skipIf(skip)('USER by name gets uid, gid, supplementary groups and HOME from the rootfs', async () => {
    const r = await run([...fresh().args, '--user', 'user', '--', 'sh', '-c', 'echo $(id -u) $(id -g) $(id -G) $HOME; touch /home/user/ok']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('1000 1000 1000 2000 /home/user');
  });

  it.skipIf(skip)('USER uid:gid numbers need no passwd entry, an unknown name fails with its location', async () => {
    const ok = await run([...fresh().args, '--user', '4242:4343', '--', 'sh', '-c', 'echo $(id -u):$(id -g) $HOME']);
    expect(ok.code).toBe(0);
    expect(ok.stdout.trim()).toBe('4242:4343 /');
    const bad = await run([...fresh().args, '--user', 'nobody-here', '--', 'true']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('run-step: unable to find user "nobody-here"');
  });

  it.skipIf(skip)('WORKDIR is created when missing, owned by the user, and is the cwd', async () => {
    const f = fresh();
    const r = await run([...f.args, '--user', 'user', '--workdir', '/srv/app', '--', 'sh', '-c', 'pwd; touch mine']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('/srv/app');
    expect(statSync(join(f.upper, 'srv', 'app')).uid).toBe(hostUid(1000));
    expect(statSync(join(f.upper, 'srv', 'app', 'mine')).uid).toBe(hostUid(1000));
  });

  it.skipIf(skip)('env: image env over build args, default PATH, HOSTNAME, HOME', async () => {
    const r = await run([...fresh().args, '--env', 'FOO=bar', '--env', 'BOTH=env', '--build-arg', 'BOTH=arg', '--build-arg', 'ONLYARG=a', '--hostname', 'buildhost', '--', 'sh', '-c', 'echo "$FOO $BOTH $ONLYARG $PATH $HOSTNAME $HOME $(hostname)"']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('bar env a /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin buildhost /root buildhost');
  });

  it.skipIf(skip)('returns the command exit code, and 128+N when it dies of signal N', async () => {
    expect((await run([...fresh().args, '--', 'sh', '-c', 'exit 7'])).code).toBe(7);
    expect((await run([...fresh().args, '--', 'sh', '-c', 'kill -KILL $$'])).code).toBe(137);
  });

  it.skipIf(skip)('--network none has only loopback (up) and no route', async () => {
    const r = await run([...fresh().args, '--network', 'none', '--', 'sh', '-c', 'ls /sys/class/net; cat /proc/net/route | wc -l; ping -c1 -W1 127.0.0.1 >/dev/null && echo lo-up']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['lo', '1', 'lo-up']);
  });

  it.skipIf(skip)('/etc/hosts, resolv.conf and hostname are bind-mounted, not captured; created mount points are reported', async () => {
    const f = fresh();
    const r = await run([...f.args, '--debug', '--hostname', 'h1', '--', 'sh', '-c', 'echo 10.0.0.1 extra >> /etc/hosts; grep -c h1 /etc/hosts; cat /etc/hostname']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('1\nh1');
    expect(r.stderr).toMatch(/created mount points: .*\/etc\/hosts/);
    const captured = join(f.upper, 'etc', 'hosts');
    expect(existsSync(captured) ? readFileSync(captured, 'utf8') : '').toBe('');
  });

  it.skipIf(skip)('reaps zombies: orphans that exit do not stay as Z', async () => {
    const r = await run([...fresh().args, '--', 'sh', '-c', 'for i in 1 2 3; do sh -c "sleep 0.1 & exit 0"; done; sleep 1; cat /proc/[0-9]*/stat | awk "{print \\$3}" | grep -c Z']);
    expect(r.stdout.trim()).toBe('0');
  });

  it.skipIf(skip)('the step cannot reach the host filesystem through the host-side init or runtime in /proc', async () => {
    const r = await run([...fresh().args, '--', 'sh', '-c', 'for p in /proc/[0-9]*; do [ "$(cat $p/comm)" = sh ] && [ "$p" != /proc/$$ ] || [ "$(cat $p/comm)" = runc ] || continue; ls $p/root/ >/dev/null 2>&1 && echo "reached $p"; done; echo done']);
    expect(r.stdout.trim()).toBe('done');
  });

  it.skipIf(skip)('a process left in the background is killed when the step ends', async () => {
    const mark = String(800000 + Math.floor(Math.random() * 99999));
    const t0 = Date.now();
    const r = await run([...fresh().args, '--', 'sh', '-c', `sleep ${mark} </dev/null >/dev/null 2>&1 & echo started`]);
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(pgrep(`sleep ${mark}`)).toEqual([]);
  });

  it.skipIf(skip)('SIGTERM to slipway kills the tree and leaves no process, mount or temp dir', async () => {
    const f = fresh();
    const mark = String(700000 + Math.floor(Math.random() * 99999));
    const child = await start([...f.args, '--', 'sh', '-c', `sleep ${mark} & sleep ${mark}`]);
    const done = collect(child);
    const deadline = Date.now() + 20_000;
    while (pgrep(`sleep ${mark}`).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(pgrep(`sleep ${mark}`).length).toBe(2);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(143);
    expect(pgrep(`sleep ${mark}`)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(f.state);
    const tmp = join(f.state, 'tmp');
    expect(existsSync(tmp) ? readdirSync(tmp).filter((e) => e.startsWith('slipway-step-')) : []).toEqual([]);
  });
});

function pgrep(pattern: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `^${pattern}$`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('run-step usage errors', () => {
  it.each([
    [['run-step', '--rootfs', '/tmp'], 'run-step: no command given'],
    [['run-step', '--', 'true'], 'give either --rootfs DIR, or --lower DIR... with --upper DIR and --work DIR'],
    [['run-step', '--rootfs', '/tmp', '--network', 'bridge', '--', 'true'], '--network must be host or none, not "bridge"'],
    [['run-step', '--rootfs', '/tmp', '--isolation', 'vm', '--', 'true'], '--isolation must be oci or chroot, not "vm"'],
    [['run-step', '--rootfs', '/tmp', '--mount', 'type=volume,target=/x', '--', 'true'], 'unknown type "volume"'],
  ])('%j fails with exit 2: %s', async (args, message) => {
    const r = await slipway(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});
