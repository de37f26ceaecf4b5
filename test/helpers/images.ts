/**
 * Test base images, made from this machine's /bin/busybox (busybox-static);
 * nothing is downloaded. Everything is memoized per test process (cheap to call
 * from every test file).
 *
 * Exported API:
 * - `testImages(): Promise<TestImages>` builds (once) an OCI layout with three tags:
 *     `busybox`   single layer: /bin/busybox + applet symlinks (busybox --list-full),
 *                 /etc/passwd and /etc/group (root 0, user 1000, nobody 65534), /tmp 1777,
 *                 /root, /home/user (1000:1000); Env PATH, Cmd ["sh"]; host platform.
 *     `multi`     the busybox layer + layer 2 (/data files, a hard link data/hardlink ->
 *                 data/file1.txt, /etc/motd) + layer 3 (whiteout data/.wh.file2.txt, opaque
 *                 dir data/dir/.wh..wh..opq + data/dir/new.txt, changed /etc/motd).
 *     `multiarch` an OCI index: linux/amd64 + linux/arm64/v8 (same busybox layer bytes;
 *                 only the config's architecture differs).
 *   and returns the dir plus Image values (`busybox`, `multi`, `amd64`, `arm64`) and the index.
 * - `testImageLayout(): Promise<string>` the layout dir of testImages() (use as `oci:DIR:busybox`).
 * - `pushTestImage(layoutDir, registryHost, repoTag, from = 'busybox', opts?)` pushes
 *   `oci:layoutDir:from` to `docker://registryHost/repoTag` with skopeo (all platforms
 *   of an index), once per process per destination. For the TLS registry pass
 *   opts { creds: `${inject('authUser')}:${inject('authPassword')}`, caFile: inject('authRegistryCa') }.
 * - `tarOf(entries)` a tar (Buffer) from header-like entries: files, dirs, symlinks, hard links.
 * - `ensureBuilt()` builds dist/ when it is older than src/store (for tests that spawn node on dist/).
 * - `BUSYBOX_APPLETS` the applet paths linked in the busybox image (e.g. 'bin/sh').
 * - `TEST_EPOCH` the mtime (seconds) of every fixture entry and the images' `created`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pack } from 'tar-stream';
import { inject } from 'vitest';
import { Image, makeImageIndex, memoryLayer, type BuiltIndex } from '../../src/image/index.js';
import { hostPlatform, type ImageConfig, type Platform } from '../../src/oci/index.js';
import { LayoutStore, writeImage } from '../../src/store/index.js';
import { REPO_ROOT } from './cli.js';

const run = promisify(execFile);

export const TEST_EPOCH = 1_704_067_200; // 2024-01-01T00:00:00Z
const CREATED = new Date(TEST_EPOCH * 1000).toISOString();

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  mtime?: number;
}

/** A tar archive in memory, entries in the order given. */
export async function tarOf(entries: readonly TarEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? undefined : Buffer.from(e.content);
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.name,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'file' ? 0o644 : 0o777),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        mtime: new Date((e.mtime ?? TEST_EPOCH) * 1000),
        ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
        ...(type === 'file' ? { size: content?.length ?? 0 } : {}),
      };
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') p.entry(header, content ?? Buffer.alloc(0), cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const BUSYBOX = '/bin/busybox';

export const BUSYBOX_APPLETS: readonly string[] = existsSync(BUSYBOX)
  ? execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').map((s) => s.trim()).filter((s) => s !== '' && s !== 'bin/busybox')
  : [];

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nuser:x:1000:\nnobody:x:65534:\n';

function busyboxEntries(): TarEntry[] {
  if (!existsSync(BUSYBOX)) throw new Error('test images need /bin/busybox (apt-get install busybox-static)');
  const dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'root', 'home', 'var'];
  const out: TarEntry[] = dirs.map((d) => ({ name: `${d}/`, type: 'directory' as const, mode: d === 'root' ? 0o700 : 0o755 }));
  out.push({ name: 'tmp/', type: 'directory', mode: 0o1777 });
  out.push({ name: 'home/user/', type: 'directory', uid: 1000, gid: 1000 });
  out.push({ name: 'bin/busybox', content: readFileSync(BUSYBOX), mode: 0o755 });
  for (const a of BUSYBOX_APPLETS) out.push({ name: a, type: 'symlink', linkname: '/bin/busybox' });
  out.push({ name: 'etc/passwd', content: PASSWD });
  out.push({ name: 'etc/group', content: GROUP });
  return out;
}

function baseConfig(platform: Platform): ImageConfig {
  const c: ImageConfig = {
    created: CREATED,
    architecture: platform.architecture,
    os: platform.os,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  if (platform.variant !== undefined) c.variant = platform.variant;
  return c;
}

export interface TestImages {
  /** OCI layout dir holding tags busybox, multi, multiarch. */
  dir: string;
  busybox: Image;
  multi: Image;
  amd64: Image;
  arm64: Image;
  index: BuiltIndex;
}

async function build(): Promise<TestImages> {
  // under the test world dir (removed by the global teardown) when there is one
  let world = '';
  try {
    world = inject('worldDir');
  } catch {
    /* not inside a vitest worker */
  }
  const dir = mkdtempSync(join(world !== '' && existsSync(world) ? world : tmpdir(), 'slipway-test-images-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const bbLayer = memoryLayer(await tarOf(busyboxEntries()));
  const bbHistory = { created: CREATED, created_by: '/bin/sh -c #(nop) ADD busybox-static in /', comment: 'slipway test fixture' };
  const imageFor = (p: Platform) => Image.create(baseConfig(p)).append(bbLayer, bbHistory);
  const busybox = imageFor(hostPlatform());
  const amd64 = imageFor({ os: 'linux', architecture: 'amd64' });
  const arm64 = imageFor({ os: 'linux', architecture: 'arm64', variant: 'v8' });

  const layer2 = memoryLayer(await tarOf([
    { name: 'data/', type: 'directory' },
    { name: 'data/file1.txt', content: 'one\n' },
    { name: 'data/file2.txt', content: 'two\n' },
    { name: 'data/dir/', type: 'directory' },
    { name: 'data/dir/nested.txt', content: 'nested\n' },
    { name: 'data/hardlink', type: 'link', linkname: 'data/file1.txt' },
    { name: 'etc/motd', content: 'layer two\n' },
  ]));
  const layer3 = memoryLayer(await tarOf([
    { name: 'data/', type: 'directory' },
    { name: 'data/.wh.file2.txt', content: '' },
    { name: 'data/dir/', type: 'directory' },
    { name: 'data/dir/.wh..wh..opq', content: '' },
    { name: 'data/dir/new.txt', content: 'new\n' },
    { name: 'etc/motd', content: 'layer three\n' },
  ]));
  const multi = busybox
    .append(layer2, { created: CREATED, created_by: 'COPY data /data # buildkit', comment: 'slipway test fixture' })
    .appendEmptyHistory({ created: CREATED, created_by: 'ENV STAGE=3' })
    .append(layer3, { created: CREATED, created_by: 'RUN rm /data/file2.txt && rm -r /data/dir/* # buildkit', comment: 'slipway test fixture' })
    .withConfig((c) => {
      c.config = { ...c.config, Env: [...(c.config?.Env ?? []), 'STAGE=3'], WorkingDir: '/data' };
    });
  const index = makeImageIndex([amd64, arm64]);

  const store = await LayoutStore.open(dir);
  await writeImage(store, busybox, 'busybox');
  await writeImage(store, multi, 'multi');
  await writeImage(store, { images: [amd64, arm64], index }, 'multiarch');
  await store.close();
  return { dir, busybox, multi, amd64, arm64, index };
}

let memo: Promise<TestImages> | undefined;

/** The test images (built once per process). */
export function testImages(): Promise<TestImages> {
  memo ??= build();
  return memo;
}

/** Layout dir of testImages(): `oci:DIR:busybox`, `oci:DIR:multi`, `oci:DIR:multiarch`. */
export async function testImageLayout(): Promise<string> {
  return (await testImages()).dir;
}

export interface PushOptions {
  /** user:password for the auth registry. */
  creds?: string;
  /** The registry's CA certificate (PEM), e.g. inject('authRegistryCa'); TLS is verified when set. */
  caFile?: string;
}

const pushed = new Map<string, Promise<void>>();

/** Pushes `oci:layoutDir:from` to `registryHost/repoTag` with skopeo (all platforms), once per destination. */
export function pushTestImage(layoutDir: string, registryHost: string, repoTag: string, from = 'busybox', opts: PushOptions = {}): Promise<void> {
  const key = `${layoutDir}|${from}|${registryHost}/${repoTag}`;
  let p = pushed.get(key);
  if (p === undefined) {
    const args = ['copy', '--all', '--quiet'];
    let certDir: string | undefined;
    if (opts.caFile !== undefined) {
      // skopeo reads every *.crt/*.cert/*.key of a cert dir: give it the CA alone
      certDir = mkdtempSync(join(tmpdir(), 'slipway-test-ca-'));
      copyFileSync(opts.caFile, join(certDir, 'ca.crt'));
      args.push('--dest-cert-dir', certDir);
    } else args.push('--dest-tls-verify=false');
    if (opts.creds !== undefined) args.push('--dest-creds', opts.creds);
    args.push(`oci:${layoutDir}:${from}`, `docker://${registryHost}/${repoTag}`);
    p = run('skopeo', args, { timeout: 120_000 }).then(() => undefined).finally(() => {
      if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
    });
    pushed.set(key, p);
  }
  return p;
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const st = statSync(p);
    t = Math.max(t, st.isDirectory() ? newestMtime(p) : st.mtimeMs);
  }
  return t;
}

/** Builds dist/ when it is missing or older than src/store (tests that spawn node on dist/ need it). */
export function ensureBuilt(): void {
  const marker = join(REPO_ROOT, 'dist', 'store', 'index.js');
  if (existsSync(marker) && statSync(marker).mtimeMs >= newestMtime(join(REPO_ROOT, 'src', 'store'))) return;
  try {
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'ignore' });
  } catch {
    /* tsc emits even when another module has a type error */
  }
}
