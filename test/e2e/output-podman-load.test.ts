import { mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireTools, isRoot } from '../setup/tools.js';
import { slipway, REPO_ROOT } from '../helpers/cli.js';

// `docker load` needs a daemon (none here); podman load reads the same docker-archive format.
const tools = requireTools('podman');
const work = mkdtempSync(join(tmpdir(), 'slipway-podman-load-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!tools.ok || !isRoot)('--output type=docker is loadable by podman load', () => {
  it('podman load accepts the archive and sees the tag, config and every layer', async () => {
    const tar = join(work, 'hello.tar');
    const r = await slipway(['build', '--root', join(work, 'root'), '-t', 'hello:1', '--output', `type=docker,dest=${tar}`, join(REPO_ROOT, 'examples/hello')]);
    expect(r.code, r.stderr).toBe(0);
    const podman = (...args: string[]) =>
      execFileSync('podman', ['--root', join(work, 'proot'), '--runroot', join(work, 'prun'), '--storage-driver', 'vfs', ...args], { encoding: 'utf8' });
    expect(podman('load', '-i', tar)).toContain('Loaded image: docker.io/library/hello:1');
    const info = JSON.parse(podman('image', 'inspect', 'hello:1'))[0] as { Config: { Cmd: string[]; Env: string[] }; RootFS: { Layers: string[] } };
    expect(info.Config.Cmd).toEqual(['/bin/hello']);
    expect(info.Config.Env).toContain('GREETING=hello from slipway');
    expect(info.RootFS.Layers).toHaveLength(2);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `docker-archive:${tar}`], { encoding: 'utf8' })) as { rootfs: { diff_ids: string[] } };
    expect(info.RootFS.Layers).toEqual(inspected.rootfs.diff_ids);
  });
});
