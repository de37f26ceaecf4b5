#!/usr/bin/env node
/**
 * Layer commit benchmark (issue 5): slipway's layer writer vs
 * `tar -c --sort=name DIR | pigz | sha256sum` vs `buildah commit`, on
 *   - one tree of 500 MB incompressible data (5 x 100 MB random files)
 *   - one tree of 50,000 small files (1-4 KB, 500 directories)
 * slipway is measured as a RUN commit from an overlay upper dir (diffOverlay)
 * and as a full-scan commit (diffTrees against an empty tree), plus an
 * uncompressed commit (buildah's local commit stores layers uncompressed and
 * compresses at push, so that is its like-for-like figure); each run is a
 * child process so its peak RSS (process.resourceUsage().maxRSS) is its own.
 * Runs are interleaved (slipway, tar|pigz, buildah, slipway, ...) so machine
 * noise hits all alike; best of RUNS wall times, and CPU seconds (user+sys of
 * all threads/processes, slipway's getfattr child included) as a load-independent figure. Page cache warm for all.
 * Needs dist/ (npm run build).
 *
 *   node test/bench/snapshot-bench.mjs [--runs N] [--only big|small] [--keep] [--dir DIR]
 * --keep leaves the trees in DIR, and a later run with --keep --dir DIR reuses them;
 * --no-buildah skips buildah (quick runs while tuning).
 * Targets: slipway <= 1.2x tar|pigz time, <= buildah time, peak RSS < 256 MB.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('--runs', '3'));
const BASE = opt('--dir', `/var/tmp/slipway-bench-${process.pid}`);
const KEEP = args.includes('--keep');
const ONLY = opt('--only', '');
const NO_BUILDAH = args.includes('--no-buildah');
const DIST = join(REPO, 'dist/snapshot/index.js');
if (!existsSync(DIST)) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}

function have(tool) {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

function makeBig(dir) {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 5; i++) execFileSync('sh', ['-c', `head -c 100M /dev/urandom > ${dir}/blob${i}.bin`]);
}

function makeSmall(dir) {
  for (let d = 0; d < 500; d++) {
    const sub = join(dir, `d${String(d).padStart(3, '0')}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const size = 1024 + ((d * 100 + f) * 37) % 3072;
      // half text-like, half random: realistic mix for small files
      const body = f % 2 === 0 ? randomBytes(size) : Buffer.from(`line ${d}/${f} `.repeat(Math.ceil(size / 12)).slice(0, size));
      writeFileSync(join(sub, `f${f}.dat`), body);
    }
  }
}

const CHILD = `
import { diffOverlay, diffTrees } from ${JSON.stringify(DIST)};
import { mkdirSync, rmSync } from 'node:fs';
const [mode, dir, tmp, compression = 'gzip'] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
let r;
// gzip at pigz's default level 6, like for like with the tar|pigz pipeline (slipway's own default is 5)
const level = compression === 'gzip' ? 6 : undefined;
if (mode === 'overlay') r = await diffOverlay(dir, { tmpDir: tmp, compression, level });
else { const empty = tmp + '/empty'; mkdirSync(empty, { recursive: true }); r = await diffTrees(empty, dir, { tmpDir: tmp, xattrs: false, compression, level }); }
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
rmSync(r.path);
const cpu = process.cpuUsage();
console.log(JSON.stringify({ ms, cpu: (cpu.user + cpu.system) / 1000, rssKB: process.resourceUsage().maxRSS, size: r.descriptor.size, raw: r.uncompressedSize }));
`;

/** Wall ms and CPU ms (user+sys of all children, from bash's `times`) of a shell command. */
function timeShell(cmd) {
  const t0 = process.hrtime.bigint();
  const out = execFileSync('bash', ['-c', `set -o pipefail; ${cmd}; times`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const lines = out.trim().split('\n');
  return { ms, cpu: cpuOfTimes(lines[lines.length - 1]) };
}

/** Flushes dirty pages (buildah copy writes a whole tree) so no run pays for another's writeback. */
function settle() {
  execFileSync('sync');
}

function slipwayOnce(mode, dir, tmp, compression = 'gzip') {
  settle();
  const script = join(tmp, 'child.mjs');
  writeFileSync(script, CHILD);
  // bash's `times` adds the CPU of the helpers slipway starts (getfattr for the overlay xattrs, zstd),
  // as tar|pigz|sha256sum is counted with all its processes
  const out = execFileSync('bash', ['-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(script)} ${mode} ${JSON.stringify(dir)} ${JSON.stringify(tmp)} ${compression}; times`], { encoding: 'utf8' });
  const lines = out.trim().split('\n');
  const r = JSON.parse(lines[0]);
  r.cpu = cpuOfTimes(lines[lines.length - 1]);
  return r;
}

/** CPU ms (user + sys) from the children line of bash's `times`. */
function cpuOfTimes(line) {
  const secs = (line ?? '').match(/(\d+)m([\d.]+)s/g)?.map((t) => { const m = /(\d+)m([\d.]+)s/.exec(t); return Number(m[1]) * 60 + Number(m[2]); }) ?? [0, 0];
  return (secs[0] + secs[1]) * 1000;
}

function tarPigzOnce(dir) {
  settle();
  return timeShell(`tar -c --sort=name -C ${dir} . | pigz | sha256sum >/dev/null`);
}

function buildahSetup(tmp) {
  if (NO_BUILDAH || !have('buildah')) return undefined;
  return `--root ${tmp}/bs-root --runroot ${tmp}/bs-run --storage-driver ${process.getuid() === 0 ? 'overlay' : 'vfs'}`;
}

function buildahOnce(st, dir, i) {
  const ctr = execFileSync('bash', ['-c', `buildah ${st} from --quiet scratch`], { encoding: 'utf8' }).trim();
  execFileSync('bash', ['-c', `buildah ${st} copy --quiet ${ctr} ${dir} /data >/dev/null`]);
  settle();
  const r = timeShell(`buildah ${st} commit --quiet ${ctr} bench-${i} >/dev/null`);
  execFileSync('bash', ['-c', `buildah ${st} rm ${ctr} >/dev/null; buildah ${st} rmi -a -f >/dev/null 2>&1 || true`]);
  return r;
}

function best(list) {
  return { ms: Math.min(...list.map((r) => r.ms)), cpu: Math.min(...list.map((r) => r.cpu)) };
}

const fmt = (ms) => `${(ms / 1000).toFixed(2)} s`;
const rows = [];
console.log(`load average at start: ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()} (${RUNS} interleaved runs each)`);
mkdirSync(BASE, { recursive: true });
try {
  for (const [name, make] of [['500 MB incompressible', makeBig], ['50,000 small files', makeSmall]].filter(([n]) => ONLY === '' || (ONLY === 'big') === n.startsWith('500'))) {
    const dir = join(BASE, name.startsWith('500') ? 'big' : 'small');
    const tmp = join(BASE, `tmp-${name.startsWith('500') ? 'big' : 'small'}`);
    mkdirSync(tmp, { recursive: true });
    if (KEEP && existsSync(join(BASE, `${name.startsWith('500') ? 'big' : 'small'}.complete`))) {
      console.error(`reusing the ${name} tree in ${dir} (--keep)`);
    } else {
      console.error(`creating ${name} tree in ${dir} ...`);
      make(dir);
      writeFileSync(join(BASE, `${name.startsWith('500') ? 'big' : 'small'}.complete`), '');
    }
    execFileSync('sh', ['-c', `cat $(find ${dir} -type f | head -1000) > /dev/null; tar -c -C ${dir} . > /dev/null`]);
    const st = buildahSetup(tmp);
    const runs = { ov: [], sc: [], tp: [], bh: [], raw: [] };
    for (let i = 0; i < RUNS; i++) {
      runs.ov.push(slipwayOnce('overlay', dir, tmp));
      runs.tp.push(tarPigzOnce(dir));
      if (st) runs.bh.push(buildahOnce(st, dir, i));
      runs.sc.push(slipwayOnce('scan', dir, tmp));
      runs.raw.push(slipwayOnce('overlay', dir, tmp, 'none'));
    }
    if (st) execFileSync('bash', ['-c', `buildah ${st} rm -a >/dev/null 2>&1; umount -R ${tmp}/bs-root 2>/dev/null; rm -rf ${tmp}/bs-root ${tmp}/bs-run || true`]);
    const ov = { ...best(runs.ov), rssKB: Math.max(...runs.ov.map((r) => r.rssKB)), size: runs.ov[0].size, raw: runs.ov[0].raw };
    const sc = { ...best(runs.sc), rssKB: Math.max(...runs.sc.map((r) => r.rssKB)) };
    const raw = { ...best(runs.raw), rssKB: Math.max(...runs.raw.map((r) => r.rssKB)) };
    const tp = best(runs.tp);
    const bh = st ? best(runs.bh) : undefined;
    rows.push({ name, ov, sc, raw, tp, bh });
    console.log(`\n## ${name} (${(ov.raw / 1e6).toFixed(0)} MB tar, ${(ov.size / 1e6).toFixed(0)} MB gzip)`);
    // cores = cpu / wall: under load a pipeline of several processes gets more CPU share than one process,
    // so compare the cpu column when the machine is busy
    const line = (label, r, extra = '') => console.log(`${label.padEnd(20)}: wall ${fmt(r.ms)}  cpu ${fmt(r.cpu)}  cores ${(r.cpu / r.ms).toFixed(2)}${extra}`);
    line('slipway diffOverlay', ov, `  peak RSS ${(ov.rssKB / 1024).toFixed(0)} MB`);
    line('slipway diffTrees', sc, `  peak RSS ${(sc.rssKB / 1024).toFixed(0)} MB`);
    line('slipway uncompressed', raw, `  peak RSS ${(raw.rssKB / 1024).toFixed(0)} MB (what buildah's local commit does: no compression)`);
    line('tar|pigz|sha256sum', tp);
    if (bh) line('buildah commit', bh); else console.log(`buildah commit      : ${NO_BUILDAH ? 'skipped (--no-buildah)' : 'n/a (buildah missing)'}`);
    const ratio = (a, b) => `wall ${(a.ms / b.ms).toFixed(2)} / cpu ${(a.cpu / b.cpu).toFixed(2)}`;
    console.log(`slipway/tar|pigz    : overlay ${ratio(ov, tp)}; scan ${ratio(sc, tp)}   (target <= 1.20)`);
    if (bh) console.log(`slipway/buildah     : overlay gzip ${ratio(ov, bh)}; uncompressed ${ratio(raw, bh)}   (target <= 1.00)`);
    if (!KEEP) rmSync(dir, { recursive: true, force: true });
  }
} finally {
  if (!KEEP) rmSync(BASE, { recursive: true, force: true });
}
const worst = Math.max(...rows.map((r) => Math.max(r.ov.rssKB, r.sc.rssKB, r.raw.rssKB))) / 1024;
console.log(`\npeak RSS (worst case): ${worst.toFixed(0)} MB   target < 256 MB`);
