import { mkdtempSync, writeFileSync, readFileSync, utimesSync, existsSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { pushTestImage, testImageLayout } from '../helpers/images.js';
import { buildToLayout, makeContext, readLayout, type ReadBack } from '../helpers/build-fixture.js';
import { isRoot } from '../setup/tools.js';

const registry = inject('registry');
let layout: string;
let root: string;
let base: string;

beforeAll(async () => {
  layout = await testImageLayout();
  base = `${registry}/base/busybox:1`;
  await pushTestImage(layout, registry, 'base/busybox:1');
  root = mkdtempSync(join(tmpdir(), 'slipway-build-root-'));
});

const build = (ctx: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) => buildToLayout(root, ctx, args, { env });

const FULL = (b: string) => `# syntax=docker/dockerfile:1
ARG GREETING=hello
FROM ${b} AS base
ARG GREETING
MAINTAINER someone <s@example.com>
ENV APP_HOME=/srv/app LANG=C.UTF-8
LABEL org.example.team="build tools" version=1
WORKDIR $APP_HOME
COPY --chown=user:user app/ ./
COPY --chmod=0755 run.sh /usr/local/bin/run
ADD archive.tar.gz /opt/
RUN echo "$GREETING from $(pwd)" > greeting.txt && ln -s greeting.txt link.txt && mkdir -p /var/data && chown 1000:1000 /var/data
RUN <<EOF
echo heredoc > /heredoc.txt
EOF
EXPOSE 8080 53/udp
VOLUME /var/data
USER user
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --retries=3 CMD wget -q -O- http://localhost:8080/ || exit 1
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo triggered > /onbuild.txt
ENTRYPOINT ["/usr/local/bin/run"]
CMD ["--serve"]
`;

describe('slipway build: every instruction, read back from the image', () => {
  let r: ReadBack;
  let stderr: string;
  beforeAll(async () => {
    const ctx = makeContext({ Dockerfile: FULL(base), 'app/main.js': 'console.log(1)\n', 'app/lib/util.js': 'u\n', 'run.sh': '#!/bin/sh\necho run\n' });
    const t = mkdtempSync(join(tmpdir(), 'slipway-tar-'));
    writeFileSync(join(t, 'inside.txt'), 'from the archive\n');
    execFileSync('tar', ['-czf', join(ctx, 'archive.tar.gz'), '-C', t, 'inside.txt']);
    const res = await build(ctx, ['--build-arg', 'GREETING=hi', '--label', 'cli=yes', '-t', 'full:1']);
    stderr = res.stderr;
    expect(res.code, res.stderr).toBe(0);
    r = await readLayout(res.out);
  });

  it('writes files with content, mode, owner and links', () => {
    expect(r.file('srv/app/main.js')).toBe('console.log(1)\n');
    expect(r.stat('srv/app/main.js')).toMatchObject({ type: 'file', uid: 1000, gid: 1000 });
    expect(r.stat('srv/app/lib')).toMatchObject({ type: 'dir', uid: 1000, gid: 1000 });
    expect(r.stat('usr/local/bin/run')).toMatchObject({ mode: 0o755, uid: 0, gid: 0 });
    expect(r.file('opt/inside.txt')).toBe('from the archive\n');
    expect(r.file('srv/app/greeting.txt')).toBe('hi from /srv/app\n');
    expect(r.stat('srv/app/link.txt')).toMatchObject({ type: 'symlink', link: 'greeting.txt' });
    expect(r.stat('var/data')).toMatchObject({ type: 'dir', uid: 1000, gid: 1000 });
    expect(r.file('heredoc.txt')).toBe('heredoc\n');
    expect(r.stat('onbuild.txt')).toBeUndefined();
  });

  it('sets every config field', () => {
    const c = r.image.config;
    expect(c.author).toBe('someone <s@example.com>');
    expect(c.config?.Env).toEqual(expect.arrayContaining(['APP_HOME=/srv/app', 'LANG=C.UTF-8']));
    expect(c.config?.Env?.some((e) => e.startsWith('PATH='))).toBe(true);
    expect(c.config?.Env?.some((e) => e.startsWith('GREETING'))).toBe(false);
    expect(c.config?.Labels).toMatchObject({ 'org.example.team': 'build tools', version: '1', cli: 'yes' });
    expect(c.config?.WorkingDir).toBe('/srv/app');
    expect(Object.keys(c.config?.ExposedPorts ?? {}).sort()).toEqual(['53/udp', '8080/tcp']);
    expect(c.config?.Volumes).toEqual({ '/var/data': {} });
    expect(c.config?.User).toBe('user');
    expect(c.config?.StopSignal).toBe('SIGINT');
    expect(c.config?.Healthcheck).toMatchObject({ Test: ['CMD-SHELL', 'wget -q -O- http://localhost:8080/ || exit 1'], Interval: 30e9, Retries: 3 });
    expect(c.config?.Shell).toEqual(['/bin/sh', '-ec']);
    expect(c.config?.OnBuild).toEqual(['RUN echo triggered > /onbuild.txt']);
    expect(c.config?.Entrypoint).toEqual(['/usr/local/bin/run']);
    expect(c.config?.Cmd).toEqual(['--serve']);
  });

  it('writes history as BuildKit does, empty_layer for metadata steps', () => {
    const h = (r.image.config.history ?? []).slice(1); // the base image's own entry first
    const by = h.map((x) => x.created_by);
    expect(by).toContain('ENV APP_HOME=/srv/app LANG=C.UTF-8');
    expect(by).toContain('WORKDIR /srv/app');
    expect(by).toContain('COPY --chown=user:user app/ ./ # buildkit');
    expect(by).toContain('COPY --chmod=0755 run.sh /usr/local/bin/run # buildkit');
    expect(by).toContain('ADD archive.tar.gz /opt/ # buildkit');
    expect(by.find((b) => b?.startsWith('RUN |1 GREETING=hi /bin/sh -c echo'))).toBeDefined();
    expect(by).toContain('ENTRYPOINT ["/usr/local/bin/run"]');
    expect(by).toContain('CMD ["--serve"]');
    const layers = h.filter((x) => x.empty_layer !== true).length;
    expect(layers + 1).toBe(r.image.layers.length);
    expect(h.find((x) => x.created_by?.startsWith('ENV'))?.empty_layer).toBe(true);
  });

  it('logs the mode first and the digest last', () => {
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toMatch(/isolation=\w+ rootless=(true|false) storage-driver=[\w-]+/);
    expect(lines[lines.length - 1]).toMatch(/image sha256:[0-9a-f]{64} .*-> oci layout/);
  });
});

describe('multi-stage builds', () => {
  it('builds only what the target needs, copies --from stages and images, runs ONBUILD triggers of a base', async () => {
    const onbuildCtx = makeContext({ Dockerfile: `FROM ${base}\nONBUILD RUN echo triggered > /onbuild.txt\n` });
    const ob = await slipway(['build', '--root', root, '--progress', 'plain', '-t', `${registry}/onbuild/base:1`, '--push', onbuildCtx]);
    expect(ob.code, ob.stderr).toBe(0);
    const ctx = makeContext({
      Dockerfile: [
        `FROM ${base} AS unused`,
        'RUN exit 3',
        `FROM ${base} AS builder`,
        'RUN mkdir -p /out && echo built > /out/artifact',
        `FROM ${registry}/onbuild/base:1 AS withtrigger`,
        'FROM scratch',
        'COPY --from=builder /out/artifact /artifact',
        'COPY --from=withtrigger /onbuild.txt /onbuild.txt',
        `COPY --from=${base} /etc/passwd /passwd`,
      ].join('\n'),
    });
    const res = await build(ctx);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain('exit 3');
    const r = await readLayout(res.out);
    expect(r.file('artifact')).toBe('built\n');
    expect(r.file('onbuild.txt')).toBe('triggered\n');
    expect(r.file('passwd')).toContain('root:');
  });

  it('--target stops at a stage', async () => {
    const ctx = makeContext({ Dockerfile: `FROM ${base} AS one\nRUN echo 1 > /one\nFROM one AS two\nRUN echo 2 > /two\n` });
    const res = await build(ctx, ['--target', 'one']);
    expect(res.code, res.stderr).toBe(0);
    const r = await readLayout(res.out);
    expect(r.file('one')).toBe('1\n');
    expect(r.stat('two')).toBeUndefined();
  });

  it('uses an oci: layout and an oci-archive: file as bases, and COPY --from a stage index', async () => {
    const ctx = makeContext({ Dockerfile: `FROM oci:${layout}:busybox\nRUN echo ok > /ok\n` });
    const res = await build(ctx);
    expect(res.code, res.stderr).toBe(0);
    expect((await readLayout(res.out)).file('ok')).toBe('ok\n');
    const tarDir = mkdtempSync(join(tmpdir(), 'slipway-archive-'));
    const archived = await slipway(['build', '--root', root, '-q', '-t', 'arch:1', '--output', `type=oci,dest=${tarDir}/base.tar`, ctx]);
    expect(archived.code, archived.stderr).toBe(0);
    const second = await build(makeContext({ Dockerfile: `FROM oci-archive:${tarDir}/base.tar AS zero\nRUN cat /ok > /again\nFROM scratch\nCOPY --from=0 /again /again\n` }));
    expect(second.code, second.stderr).toBe(0);
    expect((await readLayout(second.out)).file('again')).toBe('ok\n');
  });
});

describe('layer cache', () => {
  it('a rebuild with nothing changed reuses every layer, also after touching an unrelated file', async () => {
    const ctx = makeContext({ Dockerfile: `FROM ${base}\nCOPY app /app\nRUN echo run > /ran\nCOPY other /other\n`, 'app/a': 'a', other: 'o', unrelated: 'u' });
    const first = await build(ctx);
    expect(first.code, first.stderr).toBe(0);
    const second = await build(ctx);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr.match(/CACHED/g)?.length).toBe(3);
    writeFileSync(join(ctx, 'unrelated'), 'changed');
    utimesSync(join(ctx, 'app/a'), new Date(), new Date());
    const third = await build(ctx);
    expect(third.stderr.match(/CACHED/g)?.length).toBe(3);
    writeFileSync(join(ctx, 'other'), 'changed');
    const fourth = await build(ctx);
    expect(fourth.stderr.match(/CACHED/g)?.length).toBe(2);
    expect(fourth.stderr).toMatch(/cache miss: not-found \(sources changed\)/);
    expect((await readLayout(fourth.out)).file('other')).toBe('changed');
    const nc = await build(ctx, ['--no-cache']);
    expect(nc.stderr).not.toContain('CACHED');
  });
});

describe('errors users meet most are one located line', () => {
  const cases: [string, Record<string, string>, string[], RegExp][] = [
    ['a missing COPY source', { Dockerfile: 'FROM scratch\nCOPY nope.txt /\n' }, [], /Error: Dockerfile:2: COPY source "nope.txt" not found in build context/],
    ['a source excluded by .dockerignore', { Dockerfile: 'FROM scratch\nCOPY secret.env /\n', 'secret.env': 's', '.dockerignore': '*.env\n' }, [], /Error: Dockerfile:2: COPY source "secret.env" is excluded by .dockerignore/],
    ['a failing RUN', { Dockerfile: 'FROM BASE\nRUN echo out && exit 7\n' }, [], /Error: Dockerfile:2: RUN \/bin\/sh -c echo out && exit 7 failed with exit code 7/],
    ['an unknown --target', { Dockerfile: 'FROM scratch AS a\n' }, ['--target', 'b'], /Error: target stage "b" could not be found/],
    ['a missing --secret', { Dockerfile: 'FROM BASE\nRUN --mount=type=secret,id=tok cat /run/secrets/tok\n' }, [], /Error: Dockerfile:2: RUN --mount=type=secret,id=tok: no secret "tok" was given/],
    ['an unpullable base', { Dockerfile: 'FROM REGISTRY/does/not-exist:1\n' }, [], /Error: Dockerfile:1: cannot use base image "[^"]+\/does\/not-exist:1": .*(not found|unknown)/i],
  ];
  it.each(cases)('%s', async (_n, files, args, msg) => {
    const f = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.replace('BASE', base).replace('REGISTRY', registry)]));
    const res = await build(makeContext(f), args);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(msg);
    expect(res.stderr.split('\n').filter((l) => l.startsWith('Error:')).length).toBe(1);
  });
});

describe('secrets', () => {
  it('a --secret is readable by RUN and appears in no layer, config, history, cache record or log', async () => {
    const secret = 'sup3r-s3cret-value-4242';
    const sdir = mkdtempSync(join(tmpdir(), 'slipway-secret-'));
    writeFileSync(join(sdir, 'tok'), secret);
    const ctx = makeContext({ Dockerfile: `FROM ${base}\nRUN --mount=type=secret,id=tok grep -q s3cret /run/secrets/tok && echo checked > /checked\nRUN --mount=type=secret,id=tok,env=TOK test -n "$TOK" && echo env > /env\n` });
    const res = await build(ctx, ['--secret', `id=tok,src=${join(sdir, 'tok')}`, '--debug']);
    expect(res.code, res.stderr).toBe(0);
    const r = await readLayout(res.out);
    expect(r.file('checked')).toBe('checked\n');
    expect(r.file('env')).toBe('env\n');
    const grep = (dir: string): boolean => {
      try {
        execFileSync('grep', ['-r', '-a', '-q', secret, dir]);
        return true;
      } catch {
        return false;
      }
    };
    expect(existsSync(join(r.rootfs, 'run/secrets/tok')) && readFileSync(join(r.rootfs, 'run/secrets/tok'), 'utf8').includes(secret)).toBe(false);
    expect(grep(r.rootfs)).toBe(false);
    expect(grep(join(root, 'cache'))).toBe(false);
    expect(res.stderr).not.toContain(secret);
    expect(JSON.stringify(r.image.config)).not.toContain(secret);
  });
});

describe('outputs', () => {
  it('several at once: docker archive, local dir, OCI archive, registry push, iidfile and metadata-file', async () => {
    const ctx = makeContext({ Dockerfile: `FROM ${base}\nRUN echo x > /x\n` });
    const o = mkdtempSync(join(tmpdir(), 'slipway-outs-'));
    const tag = `${registry}/built/app:1`;
    const res = await slipway(['build', '--root', root, '--progress', 'plain', '-t', tag, '--push', '--output', `type=docker,dest=${o}/d.tar`, '--output', `type=local,dest=${o}/rootfs`, '--output', `type=oci,dest=${o}/o.tar`, '--iidfile', `${o}/iid`, '--metadata-file', `${o}/meta.json`, ctx]);
    expect(res.code, res.stderr).toBe(0);
    expect(readFileSync(join(o, 'rootfs/x'), 'utf8')).toBe('x\n');
    if (isRoot) expect(statSync(join(o, 'rootfs/home/user')).uid).toBe(1000);
    expect(execFileSync('tar', ['-tf', join(o, 'd.tar')], { encoding: 'utf8' })).toContain('manifest.json');
    expect(execFileSync('tar', ['-tf', join(o, 'o.tar')], { encoding: 'utf8' })).toContain('index.json');
    const iid = readFileSync(join(o, 'iid'), 'utf8');
    const meta = JSON.parse(readFileSync(join(o, 'meta.json'), 'utf8')) as Record<string, string>;
    expect(meta['containerimage.config.digest']).toBe(iid);
    const inspect = await slipway(['inspect', tag]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain(meta['containerimage.digest']);
  });

  it('no --output: the image goes to the local store under its tags and slipway images lists it', async () => {
    const ctx = makeContext({ Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'f' });
    const res = await slipway(['build', '--root', root, '-q', '-t', 'stored/app:2', ctx]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const images = await slipway(['images', '--root', root]);
    expect(images.stdout).toContain('stored/app');
  });
});

describe.skipIf(!isRoot)('RUN ownership as root', () => {
  it('chown inside RUN becomes that uid in the image', async () => {
    const ctx = makeContext({ Dockerfile: `FROM ${base}\nRUN touch /owned && chown 1234:4321 /owned\n` });
    const res = await build(ctx);
    expect(res.code, res.stderr).toBe(0);
    expect((await readLayout(res.out)).stat('owned')).toMatchObject({ uid: 1234, gid: 4321 });
  });
});
