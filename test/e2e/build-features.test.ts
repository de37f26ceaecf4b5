import { createServer, type Server } from 'node:http';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, statSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BIN, slipway } from '../helpers/cli.js';
import { pushTestImage, testImageLayout } from '../helpers/images.js';
import { buildToLayout, makeContext, readLayout } from '../helpers/build-fixture.js';
import { haveTool, isRoot } from '../setup/tools.js';

const registry = inject('registry');
let root: string;
let base: string;
let layout: string;
let server: Server;
let http: string;
const served = mkdtempSync(join(tmpdir(), 'slipway-served-'));
const LAST_MODIFIED = 'Wed, 21 Oct 2015 07:28:00 GMT';

beforeAll(async () => {
  layout = await testImageLayout();
  await pushTestImage(layout, registry, 'feat/busybox:1');
  base = `${registry}/feat/busybox:1`;
  root = mkdtempSync(join(tmpdir(), 'slipway-feat-root-'));
  writeFileSync(join(served, 'file.txt'), 'downloaded\n');
  server = createServer((req, res) => {
    const p = join(served, decodeURIComponent((req.url ?? '/').split('?')[0] as string));
    if (!p.startsWith(served) || !existsSync(p) || statSync(p).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Last-Modified': LAST_MODIFIED }).end(readFileSync(p));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  http = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server?.close(() => r())));

const build = (ctx: string, args: string[] = [], opts: { input?: string } = {}) => buildToLayout(root, ctx, args, opts);

describe('RUN --mount and --network', () => {
  it('cache mounts persist between builds and stay out of the image; bind and tmpfs mounts too', async () => {
    const ctx = makeContext({
      Dockerfile: [
        `FROM ${base} AS other`,
        'RUN echo from-stage > /made',
        `FROM ${base}`,
        'RUN --mount=type=cache,target=/cache,id=feat-cache echo x >> /cache/log && wc -l < /cache/log | tr -d " " > /count',
        'RUN --mount=type=bind,source=data,target=/mnt cat /mnt/f > /bound',
        'RUN --mount=type=bind,from=other,source=/made,target=/m cat /m > /from-stage',
        'RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && ls /scratch > /tmpfs-list',
      ].join('\n'),
      'data/f': 'bind source\n',
    });
    const first = await build(ctx);
    expect(first.code, first.stderr).toBe(0);
    const second = await build(ctx, ['--no-cache']);
    expect(second.code, second.stderr).toBe(0);
    const r = await readLayout(second.out);
    expect(r.file('count')).toBe('2\n');
    expect(r.stat('cache/log')).toBeUndefined();
    expect(r.file('bound')).toBe('bind source\n');
    expect(r.stat('mnt/f')).toBeUndefined();
    expect(r.file('from-stage')).toBe('from-stage\n');
    expect(r.file('tmpfs-list')).toBe('t\n');
    expect(r.stat('scratch/t')).toBeUndefined();
  });

  it('--network=none leaves only loopback; the default shares the host network', async () => {
    const ctx = makeContext({ Dockerfile: `FROM ${base}\nRUN --network=none grep -c : /proc/net/dev > /none\nRUN grep -c : /proc/net/dev > /host\n` });
    const res = await build(ctx);
    expect(res.code, res.stderr).toBe(0);
    const r = await readLayout(res.out);
    expect(r.file('none')).toBe('1\n');
    expect(Number(r.file('host'))).toBeGreaterThan(1);
    const none = await build(makeContext({ Dockerfile: `FROM ${base}\nRUN grep -c : /proc/net/dev > /n\n` }), ['--network', 'none']);
    expect((await readLayout(none.out)).file('n')).toBe('1\n');
  });
});

describe('ADD from URLs and git', () => {
  it('downloads with the Last-Modified mtime and verifies --checksum', async () => {
    const sum = `sha256:${createHash('sha256').update('downloaded\n').digest('hex')}`;
    const ok = await build(makeContext({ Dockerfile: `FROM scratch\nADD --checksum=${sum} ${http}/file.txt /dl/\n` }));
    expect(ok.code, ok.stderr).toBe(0);
    const r = await readLayout(ok.out);
    expect(r.file('dl/file.txt')).toBe('downloaded\n');
    expect(statSync(join(r.rootfs, 'dl/file.txt')).mtimeMs).toBe(Date.parse(LAST_MODIFIED));
    expect(r.stat('dl/file.txt')?.mode).toBe(0o600);
    const bad = await build(makeContext({ Dockerfile: `FROM scratch\nADD --checksum=sha256:${'0'.repeat(64)} ${http}/file.txt /dl/\n` }));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Error: Dockerfile:2: ADD http:\/\/127\.0\.0\.1:\d+\/file\.txt: checksum mismatch/);
    const missing = await build(makeContext({ Dockerfile: `FROM scratch\nADD ${http}/nope.txt /dl/\n` }));
    expect(missing.stderr).toMatch(/Error: Dockerfile:2: ADD .*nope\.txt: server answered 404/);
  });

  it.skipIf(!haveTool('git'))('clones a git repository (ref after #), without .git unless --keep-git-dir', async () => {
    const src = mkdtempSync(join(tmpdir(), 'slipway-git-src-'));
    const git = (...a: string[]) => execFileSync('git', ['-C', src, '-c', 'user.email=t@e', '-c', 'user.name=t', ...a]);
    git('init', '-q', '-b', 'main');
    writeFileSync(join(src, 'README'), 'from git\n');
    git('add', 'README');
    git('commit', '-q', '-m', 'one');
    git('tag', 'v1');
    const bare = join(served, 'repo.git');
    execFileSync('git', ['clone', '-q', '--bare', src, bare]);
    execFileSync('git', ['-C', bare, 'update-server-info']);
    const res = await build(makeContext({ Dockerfile: `FROM scratch\nADD ${http}/repo.git#v1 /src/\n` }));
    expect(res.code, res.stderr).toBe(0);
    const r = await readLayout(res.out);
    expect(r.file('src/README')).toBe('from git\n');
    expect(r.stat('src/.git')).toBeUndefined();
  });
});

describe('COPY flags', () => {
  it('--parents keeps source paths, --exclude drops files, --link builds the same files', async () => {
    const ctx = makeContext({
      Dockerfile: 'FROM scratch\nCOPY --parents src/a/x.txt src/b/y.txt /p/\nCOPY --exclude=*.log logs/ /l/\nCOPY --link linked.txt /linked.txt\nCOPY --chown=5:6 <<EOF /etc/note\nhello $NAME\nEOF\n',
      'src/a/x.txt': 'x',
      'src/b/y.txt': 'y',
      'logs/keep.txt': 'k',
      'logs/drop.log': 'd',
      'linked.txt': 'l',
    });
    const res = await build(ctx);
    expect(res.code, res.stderr).toBe(0);
    const r = await readLayout(res.out);
    expect(r.file('p/src/a/x.txt')).toBe('x');
    expect(r.file('p/src/b/y.txt')).toBe('y');
    expect(r.file('l/keep.txt')).toBe('k');
    expect(r.stat('l/drop.log')).toBeUndefined();
    expect(r.file('linked.txt')).toBe('l');
    expect(r.file('etc/note')).toBe('hello \n');
    expect(r.stat('etc/note')).toMatchObject({ uid: 5, gid: 6, mode: 0o644 });
  });
});

describe('build options', () => {
  it('-f - reads the Dockerfile from stdin; --annotation and --platform reach the image', async () => {
    const ctx = makeContext({ f: 'f' });
    const res = await build(ctx, ['-f', '-', '--annotation', 'org.example.note=yes', '--platform', 'linux/arm64', '--build-arg', 'V=3'], {
      input: `FROM oci:${layout}:multiarch\nARG V\nCOPY f /f-$V\n`,
    });
    expect(res.code, res.stderr).toBe(0);
    const r = await readLayout(res.out);
    expect(r.image.config.architecture).toBe('arm64');
    expect(r.image.manifest.annotations?.['org.example.note']).toBe('yes');
    expect(r.file('f-3')).toBe('f');
    // FROM --platform picks that platform of the base, whatever --platform says
    const pinned = await build(makeContext({ Dockerfile: `FROM --platform=linux/arm64 oci:${layout}:multiarch\nENV X=1\n` }));
    expect(pinned.code, pinned.stderr).toBe(0);
    expect((await readLayout(pinned.out)).image.config.architecture).toBe('arm64');
  });

  it('--no-cache-filter rebuilds one stage only; --jobs 1 gives the same image', async () => {
    const ctx = makeContext({ Dockerfile: `FROM ${base} AS a\nRUN echo a > /a\nFROM ${base} AS b\nRUN echo b > /b\nFROM scratch\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n` });
    const first = await build(ctx, ['--timestamp', '1700000000']);
    expect(first.code, first.stderr).toBe(0);
    const filtered = await build(ctx, ['--no-cache-filter', 'a', '--timestamp', '1700000000']);
    expect(filtered.stderr).toMatch(/\[a 1\/1\] cache miss: no-cache-filter/);
    expect(filtered.stderr).toMatch(/\[b 1\/1\] CACHED/);
    const serial = await build(ctx, ['--jobs', '1', '--timestamp', '1700000000']);
    expect(serial.code, serial.stderr).toBe(0);
    const [x, y] = [await readLayout(filtered.out), await readLayout(serial.out)];
    expect(y.file('a')).toBe('a\n');
    expect(x.image.layers.length).toBe(y.image.layers.length);
  });

  it('--timestamp makes the image reproducible across contexts', async () => {
    const files = { Dockerfile: 'FROM scratch\nCOPY . /app/\nENV A=1\n', 'a.txt': 'same\n' };
    const one = await build(makeContext(files), ['--timestamp', '1700000000', '--no-cache']);
    const two = await build(makeContext(files), ['--timestamp', '1700000000', '--no-cache']);
    expect(one.code, one.stderr).toBe(0);
    const [a, b] = [await readLayout(one.out), await readLayout(two.out)];
    expect(a.image.config.created).toBe('2023-11-14T22:13:20Z');
    expect(a.image.digest).toBe(b.image.digest);
  });
});

describe('crash safety and sharing', () => {
  it('two builds sharing one store at once both succeed', async () => {
    const mk = (n: number) => makeContext({ Dockerfile: `FROM ${base}\nRUN echo ${n} > /n && sleep 0.2\nCOPY f /f\n`, f: `${n}` });
    const [a, b] = await Promise.all([build(mk(1)), build(mk(2))]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect((await readLayout(a.out)).file('n')).toBe('1\n');
    expect((await readLayout(b.out)).file('n')).toBe('2\n');
  });

  it.skipIf(!isRoot)('a build killed with SIGKILL during a RUN leaves no mounts or processes; the next build works', async () => {
    const kroot = mkdtempSync(join(tmpdir(), 'slipway-kill-root-'));
    const ctx = makeContext({ Dockerfile: `FROM ${base}\nRUN echo started && sleep 30\n` });
    const child = spawn(process.execPath, [BIN, 'build', '--root', kroot, '--progress', 'plain', ctx], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    await new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        if (err.includes('started')) resolve();
      });
      setTimeout(resolve, 30_000);
    });
    expect(err).toContain('started');
    const closed = new Promise((r) => child.on('close', r));
    child.kill('SIGKILL');
    await closed;
    // the step's processes die with their PID namespace; mounts lived in the step's mount namespace
    const deadline = Date.now() + 5000;
    let sleeping = true;
    while (Date.now() < deadline && sleeping) {
      sleeping = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).some((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('sleep\u000030') && readFileSync(`/proc/${p}/environ`, 'utf8').length >= 0;
        } catch {
          return false;
        }
      });
      if (sleeping) await new Promise((r) => setTimeout(r, 200));
    }
    expect(sleeping).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(kroot);
    const again = await slipway(['build', '--root', kroot, '--progress', 'plain', makeContext({ Dockerfile: `FROM ${base}\nRUN echo fine > /fine\n` })]);
    expect(again.code, again.stderr).toBe(0);
  });
});

describe('kills at several points', () => {
  it.skipIf(!isRoot)('SIGKILL during pull, RUN, layer commit or output leaves a store the next build uses', async () => {
    const kroot = mkdtempSync(join(tmpdir(), 'slipway-kills-'));
    const big = makeContext({ Dockerfile: `FROM ${registry}/feat/kill:1\nRUN echo step > /s && sleep 0.3\nCOPY big.bin /big.bin\n` });
    await pushTestImage(layout, registry, 'feat/kill:1', 'multi');
    writeFileSync(join(big, 'big.bin'), Buffer.alloc(24 << 20, 7));
    const outDir = mkdtempSync(join(tmpdir(), 'slipway-kills-out-'));
    for (const delay of [150, 400, 900, 1600, 2500]) {
      const child = spawn(process.execPath, [BIN, 'build', '--root', kroot, '--no-cache', '--output', `type=oci,dest=${outDir}/o-${delay}`, big], { stdio: 'ignore' });
      const closed = new Promise((r) => child.on('close', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await closed;
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(kroot);
    }
    const done = await slipway(['build', '--root', kroot, '--progress', 'plain', '--debug', '--output', `type=oci,dest=${outDir}/final`, big], { timeoutMs: 60_000 });
    expect(done.code, done.stderr).toBe(0);
    const r = await readLayout(join(outDir, 'final'));
    // scratch dirs of the killed builds are gone
    expect(readdirSync(join(kroot, 'tmp')).filter((n) => /^(copy|run)-/.test(n))).toEqual([]);
    expect(r.file('s')).toBe('step\n');
    expect(statSync(join(r.rootfs, 'big.bin')).size).toBe(24 << 20);
  });
});

describe('--pull and --ssh', () => {
  it('a stored base is reused until --pull re-resolves the tag', async () => {
    await pushTestImage(layout, registry, 'feat/moving:1', 'busybox');
    const ctx = makeContext({ Dockerfile: `FROM ${registry}/feat/moving:1\nRUN ls /data > /listing 2>/dev/null || echo none > /listing\n` });
    const first = await build(ctx);
    expect((await readLayout(first.out)).file('listing')).toBe('none\n');
    // the tag moves to another image: without --pull the stored one is used
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:multi`, `docker://${registry}/feat/moving:1`]);
    const stale = await build(ctx);
    expect(stale.stderr).toContain('using stored');
    expect((await readLayout(stale.out)).file('listing')).toBe('none\n');
    const pulled = await build(ctx, ['--pull']);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect((await readLayout(pulled.out)).file('listing')).not.toBe('none\n');
  });

  it('--ssh forwards an agent socket to RUN --mount=type=ssh', async () => {
    const { createServer: netServer } = await import('node:net');
    const sock = join(mkdtempSync(join(tmpdir(), 'slipway-ssh-')), 'agent.sock');
    const srv = netServer(() => undefined);
    await new Promise<void>((r) => srv.listen(sock, r));
    try {
      const ctx = makeContext({ Dockerfile: `FROM ${base}\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /sock\n` });
      const res = await build(ctx, ['--ssh', `default=${sock}`]);
      expect(res.code, res.stderr).toBe(0);
      expect((await readLayout(res.out)).file('sock')).toMatch(/^\/run\/buildkit\/ssh_agent\.0\n$/);
      const missing = await build(ctx);
      expect(missing.stderr).toMatch(/Error: Dockerfile:2: RUN --mount=type=ssh,id=default: no --ssh default was given/);
    } finally {
      srv.close();
    }
  });
});
