#!/usr/bin/env node
/**
 * slipway build vs buildah bud, cold and fully cached, side by side.
 *
 *   node test/bench/build-bench.mjs            (npm run bench runs it too)
 *   BENCH_BIG_MB=500   size of the big-layer case (default 500)
 *   BENCH_DEBIAN=1     also the apt-get case on a debootstrap'd Debian base (needs the Debian mirror)
 *   BENCH_ROUNDS=2     interleaved rounds per case (best of)
 *
 * Corpus: scratch copy of many files, busybox with several RUN steps, a multi-stage build,
 * a big incompressible layer, 30 small layers (and optionally apt-get on Debian). Cold = empty
 * store for both; cached = the same build again (buildah with --layers). Targets (issue 6):
 * cold ratio <= 1.0, cached rebuild >= 5x faster than buildah's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, copyFileSync, existsSync, openSync, writeSync, closeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));
// buildah wants lowercase paths in oci: references
const work = join(tmpdir(), `slipway-build-bench-${randomBytes(4).toString('hex')}`);
mkdirSync(work, { recursive: true });
const have = (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
if (!have('buildah')) {
  console.log('buildah not installed: skipping the build benchmark');
  process.exit(0);
}
if (process.getuid?.() !== 0) console.log('note: not root; both builders run rootless');

function time(cmd, args, opts = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, ...opts });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${(r.stderr || '').slice(-2000)}`);
  return s;
}

// base image: busybox-static from this machine, built by slipway into an OCI layout both builders read
const baseCtx = join(work, 'base');
mkdirSync(join(baseCtx, 'bin'), { recursive: true });
copyFileSync('/bin/busybox', join(baseCtx, 'bin/busybox'));
writeFileSync(join(baseCtx, 'Dockerfile'), 'FROM scratch\nCOPY bin/busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nRUN mkdir -p /tmp /etc && chmod 1777 /tmp && echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd && echo "root:x:0:" > /etc/group\n');
time(process.execPath, [BIN, 'build', '--root', join(work, 'base-root'), '-q', '-t', 'base:1', '--output', `type=oci,dest=${join(work, 'layout')}`, baseCtx]);
const BASE = `oci:${join(work, 'layout')}:1`;

function ctx(name, files) {
  const d = join(work, 'ctx', name);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(d, p, '..'), { recursive: true });
    writeFileSync(join(d, p), c);
  }
  return d;
}

const cases = [];
{
  const files = { Dockerfile: 'FROM scratch\nCOPY . /data/\n' };
  for (let i = 0; i < 5000; i++) files[`d${i % 50}/f${i}.txt`] = `file ${i}\n`.repeat(1 + (i % 7));
  cases.push(['scratch COPY 5000 files', ctx('many', files)]);
}
cases.push([
  'busybox, 5 RUN steps',
  ctx('runs', { Dockerfile: `FROM ${BASE}\n` + [1, 2, 3, 4, 5].map((i) => `RUN mkdir -p /work/${i} && for j in 1 2 3 4 5 6 7 8 9 10; do echo $j > /work/${i}/$j; done`).join('\n') + '\n' }),
]);
cases.push([
  'multi-stage (2 parallel stages)',
  ctx('multi', {
    Dockerfile: `FROM ${BASE} AS a\nRUN mkdir /out && seq 1 20000 > /out/a\nFROM ${BASE} AS b\nRUN mkdir /out && seq 1 30000 > /out/b\nFROM ${BASE}\nCOPY --from=a /out/a /a\nCOPY --from=b /out/b /b\n`,
  }),
]);
{
  const mb = Number(process.env.BENCH_BIG_MB ?? 500);
  const d = ctx('big', { Dockerfile: 'FROM scratch\nCOPY big.bin /big.bin\n' });
  const fd = openSync(join(d, 'big.bin'), 'w');
  for (let i = 0; i < mb; i++) writeSync(fd, randomBytes(1 << 20));
  closeSync(fd);
  cases.push([`${mb} MB layer (COPY)`, d]);
}
cases.push(['30 small layers', ctx('thirty', { Dockerfile: `FROM ${BASE}\n` + Array.from({ length: 30 }, (_, i) => `RUN echo ${i} > /layer-${i}`).join('\n') + '\n' })]);
if (process.env.BENCH_DEBIAN === '1' && have('debootstrap')) {
  const rootfs = join(work, 'debian');
  execFileSync('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian'], { stdio: 'ignore' });
  const dctx = ctx('debian-base', { Dockerfile: 'FROM scratch\nCOPY rootfs/ /\n' });
  execFileSync('cp', ['-a', rootfs, join(dctx, 'rootfs')]);
  time(process.execPath, [BIN, 'build', '--root', join(work, 'base-root'), '-q', '-t', 'debian:1', '--output', `type=oci,dest=${join(work, 'dlayout')}`, dctx]);
  cases.push(['apt-get install on Debian minbase', ctx('apt', { Dockerfile: `FROM oci:${join(work, 'dlayout')}:1\nRUN apt-get update && apt-get install -y --no-install-recommends jq\n` })]);
}

// BENCH_ROUNDS (default 2): cold+cached pairs per builder and case, interleaved
// (slipway, buildah, slipway, ...), each from an empty store, best of the rounds. Dirty pages
// are written back (sync) before every timed run, so no builder pays for the previous one's writes.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const rows = [];
for (const [name, dir] of cases) {
  const sroot = join(work, `s-${rows.length}`);
  const broot = join(work, `b-${rows.length}`);
  // both builders write into their own local store (no export), as `buildah bud` does
  const synced = (fn) => () => {
    spawnSync('sync');
    return fn();
  };
  const slip = synced(() => time(process.execPath, [BIN, 'build', '--root', sroot, '-q', '-t', 'bench:1', dir]));
  const bud = synced(() => time('buildah', ['--root', join(broot, 'root'), '--runroot', join(broot, 'run'), 'bud', '--runtime', 'runc', '--layers', '-q', '-t', 'bench:1', dir]));
  const r = { name, sCold: Infinity, bCold: Infinity, sWarm: Infinity, bWarm: Infinity };
  for (let i = 0; i < ROUNDS; i++) {
    r.sCold = Math.min(r.sCold, slip());
    r.sWarm = Math.min(r.sWarm, slip());
    rmSync(sroot, { recursive: true, force: true });
    r.bCold = Math.min(r.bCold, bud());
    r.bWarm = Math.min(r.bWarm, bud());
    rmSync(broot, { recursive: true, force: true });
  }
  rows.push(r);
  console.log(`${name}: slipway ${r.sCold.toFixed(2)}s/${r.sWarm.toFixed(2)}s, buildah ${r.bCold.toFixed(2)}s/${r.bWarm.toFixed(2)}s (best of ${ROUNDS})`);
}

const pad = (s, n) => String(s).padEnd(n);
console.log('\n' + pad('case', 36) + pad('slipway cold', 14) + pad('buildah cold', 14) + pad('ratio', 8) + pad('slipway cached', 16) + pad('buildah cached', 16) + 'speedup');
for (const r of rows) {
  console.log(
    pad(r.name, 36) + pad(`${r.sCold.toFixed(2)}s`, 14) + pad(`${r.bCold.toFixed(2)}s`, 14) + pad((r.sCold / r.bCold).toFixed(2), 8) +
      pad(`${r.sWarm.toFixed(2)}s`, 16) + pad(`${r.bWarm.toFixed(2)}s`, 16) + `${(r.bWarm / r.sWarm).toFixed(1)}x`,
  );
}
console.log('ratio = slipway/buildah cold (target <= 1.0); speedup = buildah cached / slipway cached (target >= 5x)');
rmSync(work, { recursive: true, force: true });
