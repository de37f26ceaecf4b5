import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Absolute path of a host program, looked up on PATH plus the system dirs
 * (a non-root user's PATH often lacks /usr/sbin where runc and chroot live).
 */
export function findHostTool(name: string, path = process.env.PATH ?? ''): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const seen = new Set<string>();
  for (const dir of [...path.split(delimiter), ...SYSTEM_PATH.split(':')]) {
    if (!dir || seen.has(dir)) continue;
    seen.add(dir);
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
