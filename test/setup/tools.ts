import { execFileSync } from 'node:child_process';

/** True when `name` is on PATH. */
export function haveTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * For tests that need an external tool: under CI=true a missing tool fails the
 * suite (never a silent skip); locally the test is skipped with a reason.
 */
export function requireTools(...names: string[]): { ok: boolean; missing: string[] } {
  const missing = names.filter((n) => !haveTool(n));
  if (missing.length > 0 && process.env.CI === 'true') {
    throw new Error(`CI=true and required tool(s) missing: ${missing.join(', ')} (install them in .ci/run)`);
  }
  return { ok: missing.length === 0, missing };
}

export const isRoot = process.getuid?.() === 0;
