import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testImageLayout } from '../helpers/images.js';
import { makeContext, readLayout } from '../helpers/build-fixture.js';
import { slipway } from '../helpers/cli.js';

describe('slipway build keeps the owners of existing parent directories', () => {
  it.each(['oci', 'chroot'])('USER + WORKDIR under /home/user then RUN (%s): /home/user stays 1000:1000 0755', async (isolation) => {
    const layout = await testImageLayout();
    const ctx = makeContext({ Dockerfile: `FROM oci:${layout}:busybox\nUSER user\nWORKDIR /home/user/work\nRUN touch x\n` });
    const out = mkdtempSync(join(tmpdir(), 'slipway-parents-'));
    const r = await slipway(['build', '--root', join(out, 'root'), '--isolation', isolation, '--output', `type=oci,dest=${out}/img`, ctx]);
    expect(r.code, r.stderr).toBe(0);
    const img = await readLayout(join(out, 'img'));
    expect(img.stat('home/user')).toMatchObject({ type: 'dir', uid: 1000, gid: 1000 });
    expect(img.stat('home')).toMatchObject({ type: 'dir', uid: 0, gid: 0 });
    expect(img.stat('home/user/work/x')).toMatchObject({ type: 'file', uid: 1000, gid: 1000 });
  });
});
