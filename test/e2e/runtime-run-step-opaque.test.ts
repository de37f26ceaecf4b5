import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { isRoot, requireTools } from '../setup/tools.js';
import { makeBusyboxRootfs } from '../setup/rootless.js';

/**
 * slipway run-step --lower ...: an opaque dir of an upper lower (overlay xattr)
 * hides the lowers below it from the step; runStep's own view of the tree (user
 * lookup, mount points) must hide them too.
 */
const tools = requireTools('unshare', 'setpriv', 'busybox', 'getfattr', 'setfattr');
const skip = !tools.ok || !isRoot;

let base = '';
beforeAll(() => {
  if (skip) return;
  base = mkdtempSync('/tmp/slipway-rt-opaque-');
  chmodSync(base, 0o755);
  makeBusyboxRootfs(join(base, 'bottom'));
  // "user" (1000) exists only in the bottom's /etc/passwd; the top lower makes /etc opaque
  mkdirSync(join(base, 'top', 'etc'), { recursive: true });
  writeFileSync(join(base, 'top', 'etc', 'motd'), 'top\n');
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(base, 'top', 'etc')]);
});
afterAll(() => {
  if (base) execFileSync('rm', ['-rf', base]);
});

function dirs(name: string): string[] {
  const d = join(base, name);
  for (const s of ['upper', 'work']) mkdirSync(join(d, s), { recursive: true });
  return ['--upper', join(d, 'upper'), '--work', join(d, 'work')];
}

describe('run-step --lower: opaque lower dirs', () => {
  it.skipIf(skip)('a user only in a passwd that an opaque /etc of a higher lower hides is unknown', async () => {
    const r = await slipway(['run-step', '--lower', join(base, 'top'), '--lower', join(base, 'bottom'), ...dirs('hidden'), '--isolation', 'chroot', '--user', 'user', '--', 'id', '-u']);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/unable to find user "user"/);
  });

  it.skipIf(skip)('without the opaque lower the same user is found (the test can fail)', async () => {
    const r = await slipway(['run-step', '--lower', join(base, 'bottom'), ...dirs('visible'), '--isolation', 'chroot', '--user', 'user', '--', 'id', '-u']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1000\n');
  });
});
