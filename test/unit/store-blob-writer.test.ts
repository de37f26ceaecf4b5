import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigestMismatchError, SizeMismatchError, digestOf, type Descriptor } from '../../src/oci/index.js';
import { LayoutStore } from '../../src/store/index.js';
import { ensureBuilt } from '../helpers/images.js';
import { REPO_ROOT } from '../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-blob-writer-'));
let n = 0;
const freshStore = () => LayoutStore.open(join(work, `layout-${++n}`));
const temps = (s: LayoutStore) =>
  existsSync(join(s.dir, '.slipway-tmp')) ? readdirSync(join(s.dir, '.slipway-tmp')).filter((f) => !f.startsWith('lease-')) : [];
const descOf = (data: Buffer): Descriptor => ({ mediaType: 'application/octet-stream', digest: digestOf(data), size: data.length });
/** `data` cut into chunks of `size` bytes. */
const chunks = (data: Buffer, size: number): Buffer[] => {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
};

/** A copy of `data` with the byte at `at` inverted. */
const flipByte = (data: Buffer, at: number): Buffer => {
  const out = Buffer.from(data);
  out[at] = (out[at] as number) ^ 0xff;
  return out;
};

beforeAll(() => ensureBuilt());
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each([
  ['on the hash worker', '1'],
  ['inline', '0'],
])('LayoutStore.openBlobWriter hashing %s', (_mode, hashWorker) => {
  let saved: string | undefined;
  beforeAll(() => {
    saved = process.env['SLIPWAY_HASH_WORKER'];
    process.env['SLIPWAY_HASH_WORKER'] = hashWorker;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env['SLIPWAY_HASH_WORKER'];
    else process.env['SLIPWAY_HASH_WORKER'] = saved;
  });

  it('writes a large blob chunk by chunk, asking the producer to wait when 8 MiB are queued, and makes it visible on commit', async () => {
    const s = await freshStore();
    const data = randomBytes(24 << 20);
    const d = descOf(data);
    const w = await s.openBlobWriter(d);
    let waits = 0;
    for (const c of chunks(data, 64 << 10)) {
      if (!w.write(c)) {
        waits++;
        await w.drain();
      }
    }
    expect(await s.exists(d)).toBe(false);
    await w.commit();
    expect(waits).toBeGreaterThan(0);
    expect(readFileSync(s.blobPath(d.digest)).equals(data)).toBe(true);
    expect(temps(s)).toEqual([]);
    await s.close();
  });

  it.each([
    ['one byte changed', (data: Buffer) => chunks(flipByte(data, 100), 4096), DigestMismatchError],
    ['a byte missing', (data: Buffer) => chunks(data.subarray(1), 4096), SizeMismatchError],
    ['a byte too many', (data: Buffer) => chunks(Buffer.concat([data, Buffer.from('x')]), 4096), SizeMismatchError],
  ] as const)('refuses a blob with %s: nothing visible, no temp file left', async (_name, mangle, errorClass) => {
    const s = await freshStore();
    const data = randomBytes(3 << 20);
    const d = descOf(data);
    const w = await s.openBlobWriter(d, `blob ${d.digest} from example.test/repo`);
    for (const c of mangle(data)) w.write(c);
    const err = await w.commit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(errorClass);
    expect((err as Error).message).toContain(`blob ${d.digest} from example.test/repo`);
    expect(existsSync(s.blobPath(d.digest))).toBe(false);
    expect(temps(s)).toEqual([]);
    await s.close();
  });

  it('stores an empty blob', async () => {
    const s = await freshStore();
    const d = descOf(Buffer.alloc(0));
    const w = await s.openBlobWriter(d);
    await w.commit();
    expect(statSync(s.blobPath(d.digest)).size).toBe(0);
    await s.close();
  });

  it.each([
    ['a half-written blob', 2 << 20, 1 << 20],
    ['a blob past the early-flush step (16 MiB written: an fdatasync may be running, abort waits for it)', 40 << 20, 20 << 20],
  ])('abort drops %s and its temp file', async (_what, size, written) => {
    const s = await freshStore();
    const data = randomBytes(size);
    const d = descOf(data);
    const w = await s.openBlobWriter(d);
    for (const c of chunks(data.subarray(0, written), 1 << 20)) if (!w.write(c)) await w.drain();
    expect(temps(s).length).toBe(1);
    await new Promise((r) => setTimeout(r, 5));
    await w.abort();
    expect(temps(s)).toEqual([]);
    expect(existsSync(s.blobPath(d.digest))).toBe(false);
    await s.close();
  });

  it('several writers at once each verify their own blob', async () => {
    const s = await freshStore();
    const blobs = [randomBytes(5 << 20), randomBytes(3 << 20), randomBytes(1), randomBytes(7 << 20)];
    await Promise.all(blobs.map(async (data) => {
      const w = await s.openBlobWriter(descOf(data));
      for (const c of chunks(data, 100_000)) if (!w.write(c)) await w.drain();
      await w.commit();
    }));
    for (const data of blobs) expect(readFileSync(s.blobPath(descOf(data).digest)).equals(data)).toBe(true);
    await s.close();
  });
});

describe('blob writer processes', () => {
  it('a writer killed with SIGKILL mid-blob leaves no blob, and the next open removes its temp file', async () => {
    const dir = join(work, `layout-${++n}`);
    await (await LayoutStore.open(dir)).close();
    const script = join(work, `child-${n}.mjs`);
    writeFileSync(script, `
      import { LayoutStore } from '${pathToFileURL(join(REPO_ROOT, 'dist/store/index.js')).href}';
      const s = await LayoutStore.open(${JSON.stringify(dir)});
      setInterval(() => {}, 1000); // stay alive until killed
      const w = await s.openBlobWriter({ mediaType: 'application/octet-stream', digest: 'sha256:${'a'.repeat(64)}', size: 10 << 20 });
      w.write(Buffer.alloc(2 << 20, 7));
      await new Promise((r) => setTimeout(r, 50));
      console.log('WRITING');
    `);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SLIPWAY_HASH_WORKER: '1' } });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => (b.toString().includes('WRITING') ? resolve() : undefined));
      child.on('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    const tmpDir = join(dir, '.slipway-tmp');
    const left = readdirSync(tmpDir).filter((f) => !f.startsWith('lease-'));
    expect(left.length).toBe(1);
    expect(statSync(join(tmpDir, left[0] as string)).size).toBe(2 << 20);
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.on('exit', r)));
    expect(readdirSync(join(dir, 'blobs', 'sha256'))).toEqual([]);
    const s = await LayoutStore.open(dir);
    expect(temps(s)).toEqual([]);
    await s.close();
  });

  it.each([
    ['started and never used', `warmFileHasher();`],
    ['after hashing a blob', `
      const s = await LayoutStore.open(${'${JSON.stringify(dir)}'});
      const data = Buffer.alloc(3 << 20, 5);
      const w = await s.openBlobWriter({ mediaType: 'application/octet-stream', digest: 'sha256:' + createHash('sha256').update(data).digest('hex'), size: data.length });
      w.write(data);
      await w.commit();
      await s.close();`],
  ])('the hash worker does not keep the process alive when %s', async (_name, body) => {
    const dir = join(work, `layout-${++n}`);
    const script = join(work, `child-${n}.mjs`);
    writeFileSync(script, `
      import { createHash } from 'node:crypto';
      import { LayoutStore } from '${pathToFileURL(join(REPO_ROOT, 'dist/store/index.js')).href}';
      import { warmFileHasher } from '${pathToFileURL(join(REPO_ROOT, 'dist/store/file-hasher.js')).href}';
      ${body.replace('${JSON.stringify(dir)}', JSON.stringify(dir))}
      console.log('DONE');
    `);
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SLIPWAY_HASH_WORKER: '1' } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const code = await new Promise((r) => child.on('exit', (c, sig) => r(c ?? sig)));
    clearTimeout(timer);
    expect(out.trim()).toBe('DONE');
    expect(code).toBe(0);
  });
});
