import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';
import { tarFixture } from '../helpers/tar-fixtures.js';
import { isRoot, requireTools } from '../setup/tools.js';

/**
 * Rootless path: as an unprivileged user (nobody, via setpriv when the tests
 * run as root) inside `unshare --user --map-root-user --mount`, the unpack
 * cache builds overlay lower dirs (user.overlay.opaque, 0/0 whiteouts, devices
 * skipped with a warning), overlay mounts them with `userxattr`, and
 * diffOverlay turns the upper dir back into OCI whiteouts. Runs the built dist/.
 */
const tools = requireTools('unshare', 'setpriv', 'getfattr');
const work = mkdtempSync(join(tmpdir(), 'slipway-userns-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function newest(dir: string): number {
  let m = 0;
  for (const n of readdirSync(dir)) m = Math.max(m, statSync(join(dir, n)).mtimeMs);
  return m;
}

const SCRIPT = `
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { UnpackCache, diffOverlay } from ${JSON.stringify(join(REPO_ROOT, 'dist/snapshot/index.js'))};
const [work] = process.argv.slice(2);
const gz = readFileSync(work + '/base.tar.gz');
const sha = (b) => 'sha256:' + createHash('sha256').update(b).digest('hex');
const layer = { descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length }, diffId: sha(gunzipSync(gz)), open: async () => Readable.from([gz]) };
const warnings = [];
const cache = new UnpackCache(work + '/layers', { onWarning: (w) => warnings.push(w) });
const lowers = await cache.lowerDirs([layer]);
const lowerXattrs = execFileSync('getfattr', ['-d', '-m', '-', '--absolute-names', lowers[0] + '/opt'], { encoding: 'utf8' });
for (const d of ['upper', 'wd', 'merged']) mkdirSync(work + '/' + d);
execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', 'lowerdir=' + lowers.join(':') + ',upperdir=' + work + '/upper,workdir=' + work + '/wd,userxattr', work + '/merged']);
execFileSync('sh', ['-c', 'cd ' + work + '/merged && rm etc/a && rm -rf opt && mkdir opt && echo n > opt/new && echo x > added']);
const merged = execFileSync('sh', ['-c', 'cd ' + work + '/merged && find . | sort'], { encoding: 'utf8' });
execFileSync('umount', [work + '/merged']);
const r = await diffOverlay(work + '/upper', { compression: 'gzip', tmpDir: work });
const names = execFileSync('tar', ['-tzf', r.path], { encoding: 'utf8' }).trim().split('\\n');
console.log(JSON.stringify({ uid: process.getuid(), warnings, lowerXattrs, merged, names }));
`;

beforeAll(() => {
  const dist = join(REPO_ROOT, 'dist/snapshot/index.js');
  if (!existsSync(dist) || statSync(dist).mtimeMs < newest(join(REPO_ROOT, 'src/snapshot'))) {
    try {
      execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'ignore' });
    } catch { /* emits despite other modules' type errors */ }
  }
  writeFileSync(join(work, 'base.tar.gz'), tarFixture([
    { name: 'etc/' }, { name: 'etc/a', content: 'a' }, { name: 'etc/b', content: 'b' },
    { name: 'opt/' }, { name: 'opt/.wh..wh..opq' }, { name: 'opt/old', content: 'o' },
    { name: 'dev/' }, { name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'home/' }, { name: 'home/u', content: 'u', uid: 1000, gid: 1000 },
  ], { gzip: true }));
  writeFileSync(join(work, 'run.mjs'), SCRIPT);
  chmodSync(work, 0o777);
});

describe.runIf(tools.ok)('snapshot in a user namespace (rootless)', () => {
  it('builds overlay lower dirs, mounts them with userxattr and translates the upper dir', () => {
    const cmd = ['unshare', '--user', '--map-root-user', '--mount', process.execPath, join(work, 'run.mjs'), work];
    const argv = isRoot ? ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', ...cmd] : cmd;
    const out = JSON.parse(execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })) as { uid: number; warnings: string[]; lowerXattrs: string; merged: string; names: string[] };
    expect(out.uid).toBe(0);
    expect(out.warnings.join('\n')).toMatch(/skipped 1 device node.*dev\/null/);
    expect(out.warnings.join('\n')).toMatch(/cannot set ownership/);
    expect(out.lowerXattrs).toContain('user.overlay.opaque="y"');
    expect(out.lowerXattrs).not.toContain('trusted.');
    expect(out.merged.split('\n')).toEqual(expect.arrayContaining(['./etc/b', './opt/new', './added']));
    expect(out.merged).not.toContain('./etc/a');
    expect(out.merged).not.toContain('./opt/old');
    expect(out.names).toEqual(expect.arrayContaining(['added', 'etc/.wh.a', 'opt/.wh..wh..opq', 'opt/new']));
  });
});
