#!/usr/bin/env node
// Per-step start-up overhead of `RUN true`: slipway (oci and chroot isolation,
// in-process runStep and through the CLI) vs `buildah run` on the same busybox
// rootfs. Run as root after `npm run build`:  node test/bench/runtime-bench.mjs [N]
// Prints ms/step (median, mean) and ratios to buildah's.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? process.env.BENCH_N ?? 20);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'bin', 'slipway.js');
const { runStep } = await import(join(ROOT, 'dist', 'index.js'));

if (process.getuid() !== 0) {
  console.log('runtime-bench: skipped, run as root (the rootless rows then use the slipway-test user)');
  process.exit(0);
}

const base = mkdtempSync('/tmp/slipway-bench-');
const rootfs = join(base, 'rootfs');
for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(rootfs, d), { recursive: true });
execFileSync('cp', ['/bin/busybox', join(rootfs, 'bin', 'busybox')]);
for (const a of execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((x) => x && x !== 'busybox')) symlinkSync('busybox', join(rootfs, 'bin', a));
writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\n');

let k = 0;
function layout() {
  const d = join(base, `step-${k++}`);
  mkdirSync(join(d, 'u'), { recursive: true });
  mkdirSync(join(d, 'w'));
  return { lowers: [rootfs], upper: join(d, 'u'), work: join(d, 'w') };
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

async function time(label, fn) {
  await fn(); // warm-up (runtime probe, page cache)
  const ms = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  const s = stats(ms);
  console.log(`${label.padEnd(34)} median ${s.median.toFixed(1).padStart(7)} ms   mean ${s.mean.toFixed(1).padStart(7)} ms`);
  return s;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
}

const state = join(base, 'state');
const results = {};
console.log(`RUN true, ${N} iterations each, busybox rootfs on overlay\n`);
for (const iso of ['oci', 'chroot']) {
  results[`slipway ${iso} (runStep in-process)`] = await time(`slipway ${iso} (runStep in-process)`, async () => {
    const r = await runStep({ rootfs: layout(), argv: ['true'] }, {}, { isolation: iso, stateDir: state });
    if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}`);
  });
  results[`slipway ${iso} (CLI run-step)`] = await time(`slipway ${iso} (CLI run-step)`, async () => {
    const l = layout();
    run(process.execPath, [BIN, 'run-step', '--root', state, '--isolation', iso, '--lower', rootfs, '--upper', l.upper, '--work', l.work, '--', 'true']);
  });
}

// Rootless (optional): the same through the CLI as the test user, when it exists (test/setup/rootless.ts).
const rootlessUser = spawnSync('id', ['-u', 'slipway-test'], { encoding: 'utf8' });
if (rootlessUser.status === 0) {
  const uid = Number(rootlessUser.stdout);
  const rl = join(base, 'rootless');
  mkdirSync(rl);
  execFileSync('cp', ['-a', rootfs, join(rl, 'lower')]);
  execFileSync('chown', ['-R', `${uid}:${uid}`, rl]);
  execFileSync('chmod', ['755', base]);
  for (const iso of ['oci', 'chroot']) {
    results[`slipway ${iso} rootless (CLI)`] = await time(`slipway ${iso} rootless (CLI)`, async () => {
      const d = join(rl, `s${k++}`);
      for (const x of ['u', 'w']) mkdirSync(join(d, x), { recursive: true });
      execFileSync('chown', ['-R', `${uid}:${uid}`, d]);
      run('setpriv', ['--reuid', String(uid), '--regid', String(uid), '--init-groups', '--', 'env', 'HOME=/home/slipway-test', process.execPath, BIN, 'run-step', '--root', join(rl, 'state'), '--isolation', iso, '--lower', join(rl, 'lower'), '--upper', join(d, 'u'), '--work', join(d, 'w'), '--', 'true']);
    });
  }
}

const B = ['--root', join(base, 'buildah', 'storage'), '--runroot', join(base, 'buildah', 'run'), '--storage-driver', 'overlay'];
let haveBuildah = true;
try {
  const ctr = execFileSync('buildah', [...B, 'from', 'scratch'], { encoding: 'utf8' }).trim();
  const mnt = execFileSync('buildah', [...B, 'mount', ctr], { encoding: 'utf8' }).trim();
  execFileSync('cp', ['-a', `${rootfs}/.`, mnt]);
  execFileSync('buildah', [...B, 'umount', ctr]);
  // buildah's default runtime here is crun, which refuses hybrid cgroups: use runc like slipway does.
  results['buildah run (oci, runc)'] = await time('buildah run (oci, runc)', async () => run('buildah', [...B, 'run', '--runtime', 'runc', ctr, 'true']));
  results['buildah run --isolation chroot'] = await time('buildah run --isolation chroot', async () => run('buildah', [...B, 'run', '--isolation', 'chroot', ctr, 'true']));
  execFileSync('buildah', [...B, 'rm', ctr], { stdio: 'ignore' });
} catch (e) {
  haveBuildah = false;
  console.log(`buildah unavailable: ${e.message}`);
}

if (haveBuildah) {
  console.log('\nratio (median, lower is better: slipway / buildah same isolation)');
  for (const iso of ['oci', 'chroot']) {
    const b = results[iso === 'oci' ? 'buildah run (oci, runc)' : 'buildah run --isolation chroot'].median;
    for (const how of ['runStep in-process', 'CLI run-step']) {
      const s = results[`slipway ${iso} (${how})`].median;
      console.log(`  ${iso.padEnd(6)} ${how.padEnd(20)} ${(s / b).toFixed(2)}x`);
    }
  }
}
spawnSync('rm', ['-rf', base]);
