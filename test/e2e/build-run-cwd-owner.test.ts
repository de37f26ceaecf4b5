/**
 * A RUN whose working dir is missing gets it made by runStep, owned by the step's USER; left
 * untouched it stays out of the layer. A named USER is resolved from the unpacked base
 * (the overlay lowers), as runStep resolved it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { testImageLayout } from '../helpers/images.js';
import { layerNames, makeContext, readLayout } from '../helpers/build-fixture.js';
import { isRoot } from '../setup/tools.js';

let layout: string;
beforeAll(async () => {
  layout = await testImageLayout();
});

describe('RUN: a working dir runStep made for a named USER', () => {
  it.runIf(isRoot)('is left out of the layer when the step did not touch it', async () => {
    const ctx = makeContext({
      Dockerfile: `FROM oci:${layout}:busybox
RUN echo 'app:x:1234:2345::/:/bin/sh' >> /etc/passwd && echo 'app:x:2345:' >> /etc/group
WORKDIR /w/sub
RUN rmdir /w/sub /w
USER app
RUN id -u > /tmp/uid-$(id -g)
`,
    });
    const out = mkdtempSync(join(tmpdir(), 'slipway-cwd-owner-'));
    const r = await slipway(['build', '--root', join(out, 'root'), '-q', '--output', `type=oci,dest=${out}/img`, ctx]);
    expect(r.code, r.stderr).toBe(0);
    const img = await readLayout(join(out, 'img'));
    expect(img.file('tmp/uid-2345')).toBe('1234\n');
    const names = await layerNames(img.image.layers.at(-1)!);
    expect(names).toContain('tmp/uid-2345');
    expect(names.filter((n) => n.startsWith('w/'))).toEqual([]);
  });
});
