#!/usr/bin/env node
/**
 * `npm run bench`: runs every *.mjs benchmark in this directory (except this
 * runner), one after another, passing the command-line arguments through.
 * Exit code: non-zero when any benchmark failed.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.env.SLIPWAY_BENCH; // e.g. SLIPWAY_BENCH=registry runs registry-bench.mjs only
const scripts = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs' && (!only || f.includes(only)))
  .sort();
let failed = 0;
for (const s of scripts) {
  console.log(`\n== ${s}`);
  const r = spawnSync(process.execPath, [join(dir, s), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`== ${s} failed (exit ${r.status ?? r.signal})`);
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
