import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './cli.js';

function newestMtime(dir: string): number {
  let t = 0;
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return t;
}

/** Builds dist/ when it is missing or older than src/ (tests that spawn node on dist/ need it). */
export function ensureBuilt(): void {
  const marker = join(REPO_ROOT, 'dist', 'index.js');
  if (existsSync(marker) && statSync(marker).mtimeMs >= newestMtime(join(REPO_ROOT, 'src', 'store'))) return;
  try {
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'ignore' });
  } catch {
    /* tsc emits even when another module has a type error */
  }
}
