import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectBuildMode } from '../../src/runtime/modes/detect.js';
import { gatherEnvironmentFacts, type EnvironmentProbes, type NamespaceProbeCache } from '../../src/runtime/modes/environment-probe.js';
import {
  MAX_AGE_MS,
  PROBE_KEY_FILES,
  PROBE_KEY_NAMESPACES,
  PROBE_KEY_STATUS_FIELDS,
  forgetNamespaceProbes,
  namespaceProbeKey,
  probeCacheFile,
  recallNamespaceProbes,
  rememberNamespaceProbes,
  worthRemembering,
  type NamespaceProbeOutcome,
  type ProbeKeySources,
} from '../../src/runtime/modes/probe-cache.js';

const STATUS = [
  'Name:\tnode',
  'State:\tR (running)',
  'Uid:\t1000\t1000\t1000\t1000',
  'Gid:\t1000\t1000\t1000\t1000',
  'VmRSS:\t 51200 kB',
  'CapPrm:\t0000000000000000',
  'CapEff:\t0000000000000000',
  'CapBnd:\t000001ffffffffff',
  'CapAmb:\t0000000000000000',
  'NoNewPrivs:\t0',
  'Seccomp:\t0',
  'Seccomp_filters:\t0',
  '',
].join('\n');

function machine(): { files: Record<string, string>; links: Record<string, string>; ids: Record<string, string> } {
  return {
    files: {
      '/proc/self/status': STATUS,
      '/proc/sys/kernel/random/boot_id': 'b0b0b0b0-0000-4000-8000-000000000001\n',
      '/proc/self/uid_map': '         0       1000          1\n',
      '/proc/self/gid_map': '         0       1000          1\n',
      '/proc/self/setgroups': 'allow\n',
      '/proc/self/attr/current': 'unconfined\n',
      '/proc/sys/user/max_user_namespaces': '63000\n',
      '/proc/sys/user/max_mnt_namespaces': '63000\n',
      '/proc/sys/user/max_pid_namespaces': '63000\n',
      '/proc/sys/kernel/unprivileged_userns_clone': '1\n',
      '/proc/sys/kernel/apparmor_restrict_unprivileged_userns': '0\n',
      '/etc/subuid': 'dev:100000:65536\n',
    },
    links: { '/proc/self/ns/pid': 'pid:[4026531836]', '/proc/self/ns/cgroup': 'cgroup:[4026531835]', '/proc/self/ns/mnt': 'mnt:[4026531841]', '/proc/self/ns/user': 'user:[4026531837]' },
    ids: { '/usr/bin/unshare': '2049:1234:71392:1700000000000000000:1700000000000000000' },
  };
}

function sources(m: ReturnType<typeof machine>): ProbeKeySources {
  return { readFile: (p) => m.files[p], readLink: (p) => m.links[p], fileIdentity: (p) => m.ids[p] };
}

const base = namespaceProbeKey(sources(machine()), '/usr/bin/unshare');

describe('the namespace probe cache key', () => {
  it('is stable for the same environment', () => {
    expect(namespaceProbeKey(sources(machine()), '/usr/bin/unshare')).toBe(base);
  });

  it.each(PROBE_KEY_FILES.map((f) => [f]))('changes when %s changes', (f) => {
    const m = machine();
    m.files[f] = `${m.files[f] ?? ''}x`;
    expect(namespaceProbeKey(sources(m), '/usr/bin/unshare')).not.toBe(base);
    delete m.files[f];
    expect(namespaceProbeKey(sources(m), '/usr/bin/unshare')).not.toBe(base);
  });

  it.each(PROBE_KEY_STATUS_FIELDS.map((k) => [k]))('changes when the %s line of /proc/self/status changes', (k) => {
    const m = machine();
    m.files['/proc/self/status'] = STATUS.replace(new RegExp(`^${k}:\\t(.*)$`, 'm'), `${k}:\t$1 1`);
    expect(m.files['/proc/self/status']).not.toBe(STATUS);
    expect(namespaceProbeKey(sources(m), '/usr/bin/unshare')).not.toBe(base);
  });

  it.each(PROBE_KEY_NAMESPACES.map((n) => [n]))('changes in another %s namespace (another container)', (n) => {
    const m = machine();
    m.links[n] = `${m.links[n]}9`;
    expect(namespaceProbeKey(sources(m), '/usr/bin/unshare')).not.toBe(base);
  });

  it('changes when the unshare binary is replaced or another one is used', () => {
    const m = machine();
    m.ids['/usr/bin/unshare'] = '2049:1299:71400:1800000000000000000:1800000000000000000';
    expect(namespaceProbeKey(sources(m), '/usr/bin/unshare')).not.toBe(base);
    expect(namespaceProbeKey(sources(machine()), '/usr/local/bin/unshare')).not.toBe(base);
  });

  it('stays the same across re-exec children: their new user and mount namespaces, and unrelated status lines or files, are not part of it', () => {
    const m = machine();
    m.links['/proc/self/ns/mnt'] = 'mnt:[4026532999]';
    m.links['/proc/self/ns/user'] = 'user:[4026532998]';
    m.files['/proc/self/status'] = STATUS.replace('VmRSS:\t 51200', 'VmRSS:\t 99999').replace('State:\tR', 'State:\tS');
    m.files['/etc/subuid'] = '';
    expect(namespaceProbeKey(sources(m), '/usr/bin/unshare')).toBe(base);
  });
});

describe('which probe outcomes are remembered', () => {
  const ok = { ok: true };
  const no = { ok: false, error: 'unshare failed: Operation not permitted' };
  it.each([
    [1000, { userNamespace: ok, mountNamespace: undefined }, true],
    [1000, { userNamespace: no, mountNamespace: undefined }, false],
    [1000, { userNamespace: undefined, mountNamespace: undefined }, false],
    [0, { userNamespace: ok, mountNamespace: ok }, true],
    [0, { userNamespace: ok, mountNamespace: no }, false],
    [0, { userNamespace: no, mountNamespace: ok }, false],
  ] as [number, NamespaceProbeOutcome, boolean][])('uid %i, %j: %s', (uid, o, yes) => {
    expect(worthRemembering(uid, o)).toBe(yes);
  });
});

/** Probes answering from literals, with an in-memory cache keyed by `key`. */
function probes(uid: number, runs: Record<string, { code: number; stderr: string }>, cache: NamespaceProbeCache): EnvironmentProbes & { ran: string[] } {
  const ran: string[] = [];
  return {
    uid,
    user: uid === 0 ? 'root' : 'dev',
    env: {},
    readFile: () => undefined,
    exists: () => false,
    which: (n) => (['unshare', 'newuidmap', 'newgidmap'].includes(n) ? `/usr/bin/${n}` : undefined),
    run: async (argv) => {
      ran.push(argv.slice(1).join(' '));
      return runs[argv.slice(1).join(' ')] ?? { code: 0, stderr: '' };
    },
    cache,
    ran,
  };
}

function memoryCache(key: () => string): NamespaceProbeCache & { map: Map<string, NamespaceProbeOutcome> } {
  const map = new Map<string, NamespaceProbeOutcome>();
  return { map, key: () => key(), recall: (k) => map.get(k), remember: (k, o) => void map.set(k, o) };
}

describe('detection with remembered probes', () => {
  it('probes once, then recalls the success without spawning unshare', async () => {
    const cache = memoryCache(() => 'k1');
    const first = probes(0, {}, cache);
    const r1 = await detectBuildMode({ env: {} }, first);
    expect(first.ran).toEqual(['--user true', '--mount --pid --fork true']);
    const second = probes(0, {}, cache);
    const r2 = await detectBuildMode({ env: {} }, second);
    expect(second.ran).toEqual([]);
    expect(r2.mode).toBe(1);
    expect(r2.facts).toEqual(r1.facts);
  });

  it('never remembers a blocked namespace: the next run probes again and sees a fix at once', async () => {
    const cache = memoryCache(() => 'k1');
    const blocked = { '--user true': { code: 1, stderr: 'unshare: unshare failed: No space left on device' } };
    const first = probes(1000, blocked, cache);
    expect((await detectBuildMode({ env: {} }, first)).mode).toBe(3);
    expect(cache.map.size).toBe(0);
    const fixed = probes(1000, {}, cache);
    expect((await detectBuildMode({ env: {} }, fixed)).mode).toBe(1);
    expect(fixed.ran).toEqual(['--user true']);
  });

  it('probes again when the environment key differs', async () => {
    let key = 'k1';
    const cache = memoryCache(() => key);
    await gatherEnvironmentFacts(probes(1000, {}, cache));
    key = 'k2';
    const p = probes(1000, {}, cache);
    await gatherEnvironmentFacts(p);
    expect(p.ran).toEqual(['--user true']);
  });
});

describe('the cache file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-probe-cache-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const ok: NamespaceProbeOutcome = { userNamespace: { ok: true }, mountNamespace: { ok: true } };

  it('lives under $XDG_CACHE_HOME, else ~/.cache, else nowhere', () => {
    expect(probeCacheFile({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toBe('/x/cache/slipway/namespace-probes.json');
    expect(probeCacheFile({ HOME: '/home/u' })).toBe('/home/u/.cache/slipway/namespace-probes.json');
    expect(probeCacheFile({ XDG_CACHE_HOME: 'relative', HOME: '/home/u' })).toBe('/home/u/.cache/slipway/namespace-probes.json');
    expect(probeCacheFile({})).toBeUndefined();
  });

  it('round-trips an entry, private to its owner, and keeps entries of other keys', () => {
    const file = probeCacheFile({ XDG_CACHE_HOME: join(dir, 'a') })!;
    rememberNamespaceProbes(file, 'k1', ok, 1000);
    rememberNamespaceProbes(file, 'k2', { userNamespace: { ok: true }, mountNamespace: undefined }, 2000);
    expect(recallNamespaceProbes(file, 'k1', 3000)).toEqual(ok);
    expect(recallNamespaceProbes(file, 'k2', 3000)).toEqual({ userNamespace: { ok: true }, mountNamespace: undefined });
    expect(recallNamespaceProbes(file, 'k3', 3000)).toBeUndefined();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(file, '..')).mode & 0o777).toBe(0o700);
  });

  it('forgets entries older than a day, and entries from the future', () => {
    const file = probeCacheFile({ XDG_CACHE_HOME: join(dir, 'b') })!;
    rememberNamespaceProbes(file, 'k1', ok, 10_000);
    expect(recallNamespaceProbes(file, 'k1', 10_000 + MAX_AGE_MS)).toEqual(ok);
    expect(recallNamespaceProbes(file, 'k1', 10_000 + MAX_AGE_MS + 1)).toBeUndefined();
    expect(recallNamespaceProbes(file, 'k1', 9_999)).toBeUndefined();
    rememberNamespaceProbes(file, 'k2', ok, 10_000 + MAX_AGE_MS + 5);
    expect(Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { entries: object }).entries)).toEqual(['k2']);
  });

  it('is ignored when others may write it or another user owns it', () => {
    const file = probeCacheFile({ XDG_CACHE_HOME: join(dir, 'c') })!;
    rememberNamespaceProbes(file, 'k1', ok, 1000);
    chmodSync(file, 0o622);
    expect(recallNamespaceProbes(file, 'k1', 1000)).toBeUndefined();
    chmodSync(file, 0o600);
    expect(recallNamespaceProbes(file, 'k1', 1000)).toEqual(ok);
    if (process.getuid?.() === 0) {
      chownSync(file, 4321, 4321);
      expect(recallNamespaceProbes(file, 'k1', 1000)).toBeUndefined();
    }
  });

  it('is ignored when it is not JSON of this version', () => {
    const file = probeCacheFile({ XDG_CACHE_HOME: join(dir, 'd') })!;
    rememberNamespaceProbes(file, 'k1', ok, 1000);
    expect(recallNamespaceProbes(file, 'k1', 1000)).toEqual(ok);
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace(/^\{"v":\d+,/, '{"v":99,'), { mode: 0o600 });
    expect(recallNamespaceProbes(file, 'k1', 1000)).toBeUndefined();
    writeFileSync(file, text.replace('"ok":true', '"ok":"yes"'), { mode: 0o600 });
    expect(recallNamespaceProbes(file, 'k1', 1000), 'a malformed outcome').toBeUndefined();
    writeFileSync(file, '{"v":2,"entries":', { mode: 0o600 });
    expect(recallNamespaceProbes(file, 'k1', 1000)).toBeUndefined();
    rememberNamespaceProbes(file, 'k1', ok, 1000);
    expect(recallNamespaceProbes(file, 'k1', 1000)).toEqual(ok);
  });

  it('under an impossible cache dir (/proc) nothing is remembered, and nothing hangs', () => {
    const file = probeCacheFile({ XDG_CACHE_HOME: '/proc/slipway-none' })!;
    rememberNamespaceProbes(file, 'k1', ok);
    expect(recallNamespaceProbes(file, 'k1')).toBeUndefined();
  });

  it('forgetNamespaceProbes removes every entry', () => {
    const env = { XDG_CACHE_HOME: join(dir, 'e') };
    const file = probeCacheFile(env)!;
    rememberNamespaceProbes(file, 'k1', ok);
    expect(existsSync(file)).toBe(true);
    forgetNamespaceProbes(env);
    expect(existsSync(file)).toBe(false);
    expect(recallNamespaceProbes(file, 'k1')).toBeUndefined();
  });
});
