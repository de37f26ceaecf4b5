import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { pushTestImage, testImageLayout } from '../helpers/images.js';
import { makeContext, readLayout } from '../helpers/build-fixture.js';
import { normalizedTree } from '../helpers/tree-compare.js';
import { isRoot, requireTools } from '../setup/tools.js';
import type { ContainerConfig } from '../../src/oci/index.js';

const run = promisify(execFile);
const tools = requireTools('buildah');
const registry = inject('registry');

/**
 * Differential conformance: the same Dockerfiles built by slipway and by
 * `buildah bud`, compared as normalized trees (path, type, mode, owner,
 * content hash, link target) and config fields.
 *
 * Skip list (differences that are not slipway bugs):
 * - mtimes: every builder stamps its own build time.
 * - etc/hosts, etc/resolv.conf, etc/hostname, run/, proc/, sys/, dev/: buildah leaves the mount
 *   points of its runtime in the image; BuildKit and slipway do not.
 * - labels io.buildah.version (buildah's own) and history/created_by strings (buildah writes
 *   `/bin/sh -c #(nop) ...`, BuildKit `... # buildkit`).
 * - ArgsEscaped and Healthcheck zero fields (docker-only config extras).
 * - A hard link made in one RUN and chmod'ed through its other name in a later RUN: on overlayfs
 *   (slipway, and BuildKit's overlay snapshotter) copy-up breaks the link, so only the name
 *   touched changes; buildah with vfs copies the tree and keeps the link. BuildKit and buildah
 *   disagree here, so the case below changes both names in the same step.
 */
const SKIP = (rel: string): boolean => /^(etc\/hosts|etc\/resolv\.conf|etc\/hostname|run|proc|sys|dev)(\/|$)/.test(rel);

const CONFIG_FIELDS: (keyof ContainerConfig)[] = ['Env', 'User', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Entrypoint', 'Cmd', 'StopSignal'];

function cases(base: string): [string, Record<string, string>][] {
  return [
    [
      'COPY rules: files, directories, wildcards, --chown, --chmod, created parents',
      {
        Dockerfile: [
          `FROM ${base}`,
          'COPY a.txt /single/a.txt',
          'COPY dir/ /into/',
          'COPY *.txt /wild/',
          'COPY --chown=1000:1000 dir /owned/deep/',
          'COPY --chmod=0700 a.txt /modes/',
          'WORKDIR /w/x',
          'COPY a.txt rel/',
          // Go filepath.Match, as both: braces are literal, [!a] is the class of "!" and "a"
          'COPY {a,b}.txt [!a].txt /match/',
        ].join('\n'),
        'a.txt': 'a\n',
        'b.txt': 'b\n',
        '{a,b}.txt': 'brace\n',
        '!.txt': 'bang\n',
        'dir/one': '1\n',
        'dir/sub/two': '2\n',
      },
    ],
    [
      'RUN: files, links, deletions from the base, ownership',
      {
        Dockerfile: [
          `FROM ${base}`,
          'RUN mkdir -p /data/sub && echo x > /data/sub/f && ln -s sub/f /data/link && ln /data/sub/f /data/hard && chmod 4755 /data/sub/f',
          'RUN rm -f /etc/motd /bin/vi && chown -R 1000:1000 /data',
          'RUN rm -rf /data/sub && mkdir /data/sub && echo y > /data/sub/g',
        ].join('\n'),
      },
    ],
    [
      'metadata: ENV, LABEL, USER, EXPOSE, VOLUME, ENTRYPOINT/CMD, STOPSIGNAL',
      {
        Dockerfile: [
          `FROM ${base}`,
          'ENV A=1 B="two words"',
          'ENV A=3',
          'LABEL k=v',
          'EXPOSE 80 53/udp',
          'VOLUME ["/v"]',
          'USER 1000:1000',
          'STOPSIGNAL SIGQUIT',
          'ENTRYPOINT ["/bin/echo"]',
          'CMD ["hi"]',
        ].join('\n'),
      },
    ],
    [
      'multi-stage COPY --from',
      {
        Dockerfile: [`FROM ${base} AS b`, 'RUN mkdir /out && echo built > /out/x', 'FROM scratch', 'COPY --from=b /out /out', 'COPY --from=b /bin/busybox /bin/busybox'].join('\n'),
      },
    ],
  ];
}

describe.skipIf(!tools.ok || !isRoot)('differential: slipway vs buildah bud', () => {
  let base: string;
  let broot: string;
  let sroot: string;
  beforeAll(async () => {
    const layout = await testImageLayout();
    await pushTestImage(layout, registry, 'diff/busybox:1');
    base = `${registry}/diff/busybox:1`;
    broot = mkdtempSync(join(tmpdir(), 'slipway-buildah-'));
    sroot = mkdtempSync(join(tmpdir(), 'slipway-diff-root-'));
  });
  afterAll(() => {
    if (broot) rmSync(broot, { recursive: true, force: true });
  });

  const buildah = (args: string[]) =>
    run('buildah', ['--root', join(broot, 'root'), '--runroot', join(broot, 'run'), '--storage-driver', 'vfs', ...args], { maxBuffer: 64 << 20, timeout: 120_000 });

  it.each(cases('BASE'))('%s', async (name, files) => {
    const f = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.replaceAll('BASE', base)]));
    const ctx = makeContext(f);
    const out = mkdtempSync(join(tmpdir(), 'slipway-diff-out-'));
    const tag = `localhost/diff:${name.length}`;
    await buildah(['bud', '--isolation', 'chroot', '--tls-verify=false', '--layers=false', '-f', join(ctx, 'Dockerfile'), '-t', tag, ctx]);
    await buildah(['push', '--quiet', tag, `oci:${out}/buildah`]);
    const s = await slipway(['build', '--root', sroot, '--progress', 'plain', '--output', `type=oci,dest=${out}/slipway`, ctx]);
    expect(s.code, s.stderr).toBe(0);
    const [a, b] = await Promise.all([readLayout(join(out, 'slipway')), readLayout(join(out, 'buildah'))]);
    expect(normalizedTree(a.rootfs, SKIP)).toEqual(normalizedTree(b.rootfs, SKIP));
    const pick = (c: ContainerConfig | undefined) => Object.fromEntries(CONFIG_FIELDS.map((k) => [k, c?.[k] ?? null]).filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0)));
    expect(pick(a.image.config.config)).toEqual(pick(b.image.config.config));
    const labels = (c: ContainerConfig | undefined) => Object.fromEntries(Object.entries(c?.Labels ?? {}).filter(([k]) => k !== 'io.buildah.version'));
    expect(labels(a.image.config.config)).toEqual(labels(b.image.config.config));
  });
});
