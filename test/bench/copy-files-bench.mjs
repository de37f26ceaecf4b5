#!/usr/bin/env node
/**
 * Cold `FROM scratch` + `COPY . /data/` of many small files: slipway build vs buildah bud,
 * interleaved (one of each per round, each into an empty store), best of N, with the load.
 *
 *   node test/bench/copy-files-bench.mjs
 *   BENCH_FILES=5000 BENCH_DIRS=50 BENCH_ROUNDS=3
 *
 * The issue 6 case (build-bench.mjs "scratch COPY 5000 files") alone, for quick iterations.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/slipway.js', import.meta.url));
const FILES = Number(process.env.BENCH_FILES ?? 5000);
const DIRS = Number(process.env.BENCH_DIRS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const work = join(tmpdir(), `slipway-copy-bench-${randomBytes(4).toString('hex')}`);
const haveBuildah = spawnSync('sh', ['-c', 'command -v buildah']).status === 0;

const ctx = join(work, 'ctx');
mkdirSync(ctx, { recursive: true });
writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY . /data/\n');
for (let i = 0; i < FILES; i++) {
  const d = join(ctx, `d${i % DIRS}`);
  if (i < DIRS) mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `f${i}.txt`), `file ${i}\n`.repeat(1 + (i % 7)));
}

function time(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${(r.stderr || '').slice(-2000)}`);
  return s;
}
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const s = [];
const b = [];
try {
  for (let r = 0; r < ROUNDS; r++) {
    const sroot = join(work, `s${r}`);
    s.push(time(process.execPath, [BIN, 'build', '--root', sroot, '-q', '-t', 'bench:1', ctx]));
    rmSync(sroot, { recursive: true, force: true });
    if (haveBuildah) {
      const broot = join(work, `b${r}`);
      b.push(time('buildah', ['--root', join(broot, 'root'), '--runroot', join(broot, 'run'), 'bud', '--runtime', 'runc', '--layers', '-q', '-t', 'bench:1', ctx]));
      spawnSync('buildah', ['--root', join(broot, 'root'), '--runroot', join(broot, 'run'), 'rmi', '-a', '-f'], { stdio: 'ignore' });
      rmSync(broot, { recursive: true, force: true });
    }
    console.log(`round ${r + 1}: slipway ${s[r].toFixed(2)}s${haveBuildah ? `, buildah ${b[r].toFixed(2)}s` : ''} (load ${load()})`);
  }
  const bs = Math.min(...s);
  const bb = haveBuildah ? Math.min(...b) : NaN;
  console.log(`cold COPY of ${FILES} files in ${DIRS} dirs, best of ${ROUNDS}: slipway ${bs.toFixed(2)}s` + (haveBuildah ? `, buildah ${bb.toFixed(2)}s, ratio ${(bs / bb).toFixed(2)}` : ' (buildah not installed)') + ` (load ${load()})`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
