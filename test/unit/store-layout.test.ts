import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigestMismatchError, SizeMismatchError, digestOf, MediaType, type Descriptor } from '../../src/oci/index.js';
import { BlobNotFoundError, LayoutStore, RefNotFoundError, localStoreRoot, storePaths, withFileLock } from '../../src/store/index.js';
import { ensureBuilt } from '../helpers/images.js';
import { REPO_ROOT } from '../helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-store-test-'));
let n = 0;
const freshDir = () => join(work, `layout-${++n}`);
const blob = (text: string, mediaType = 'application/octet-stream'): [Descriptor, Buffer] => {
  const data = Buffer.from(text);
  return [{ mediaType, digest: digestOf(data), size: data.length }, data];
};
const drain = async (r: Readable): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
};
const tmpEntries = (dir: string) => readdirSync(join(dir, '.slipway-tmp')).filter((f) => !f.startsWith('lease-'));
const storeModule = pathToFileURL(join(REPO_ROOT, 'dist/store/index.js')).href;

function runChild(script: string, env: Record<string, string> = {}): ChildProcess {
  const file = join(work, `child-${++n}.mjs`);
  writeFileSync(file, script);
  return spawn(process.execPath, [file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}
function waitLine(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) resolve(m[0]);
    });
    child.on('exit', (code) => reject(new Error(`child exited ${code} before "${re}": ${out}${err}`)));
  });
}
function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('exit', (c) => resolve(c))));
}

beforeAll(() => ensureBuilt());
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('localStoreRoot', () => {
  it.each([
    [{ HOME: '/home/u' }, undefined, '/home/u/.local/share/slipway'],
    [{ HOME: '/home/u', XDG_DATA_HOME: '/x/data' }, undefined, '/x/data/slipway'],
    [{ HOME: '/home/u', XDG_DATA_HOME: 'relative' }, undefined, '/home/u/.local/share/slipway'],
    [{ HOME: '/home/u', XDG_DATA_HOME: '/x/data' }, '/r', '/r'],
  ])('env %j with --root %s gives %s', (env, flag, want) => {
    expect(localStoreRoot(env, flag)).toBe(want);
    expect(storePaths(want).oci).toBe(join(want, 'oci'));
  });
});

describe('LayoutStore', () => {
  it('creates an OCI image layout on open', async () => {
    const dir = freshDir();
    await LayoutStore.open(dir);
    expect(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
    expect(statSync(join(dir, 'blobs', 'sha256')).isDirectory()).toBe(true);
  });

  it('refuses a non-empty directory that is not a layout, and a missing one without create', async () => {
    const dir = freshDir();
    await LayoutStore.open(dir);
    writeFileSync(join(dir, '..', 'plain.txt'), 'x');
    await expect(LayoutStore.open(join(dir, '..'))).rejects.toThrow(/not empty and not an OCI image layout/);
    await expect(LayoutStore.open(freshDir(), { create: false })).rejects.toThrow(/not an OCI image layout/);
    // an oci-layout that cannot be read (a dangling symlink) is refused, not opened again and again
    const dangling = freshDir();
    mkdirSync(dangling);
    symlinkSync(join(dangling, 'nowhere'), join(dangling, 'oci-layout'));
    await expect(LayoutStore.open(dangling)).rejects.toThrow(/not empty and not an OCI image layout/);
  });

  it('reading an existing layout leaves no trace in it', async () => {
    const dir = freshDir();
    const w = await LayoutStore.open(dir);
    const [d, b] = blob('{"schemaVersion":2,"config":{}}', MediaType.OCI_MANIFEST);
    await w.push(d, b);
    await w.tag(d, 'x');
    await w.close();
    expect(readdirSync(dir).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
    const r = await LayoutStore.open(dir, { create: false });
    expect((await r.resolve('x')).digest).toBe(d.digest);
    await r.fetchBytes(d);
    expect(readdirSync(dir).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
  });

  it('stores bytes and streams, and reads them back verified', async () => {
    const s = await LayoutStore.open(freshDir());
    const [d1, b1] = blob('hello');
    const [d2, b2] = blob('x'.repeat(300_000));
    await s.push(d1, b1);
    await s.push(d2, Readable.from([b2.subarray(0, 1000), b2.subarray(1000)]));
    expect(await s.exists(d1)).toBe(true);
    expect(await s.exists({ ...d1, size: 99 })).toBe(false);
    expect((await drain(await s.fetch(d2))).equals(b2)).toBe(true);
    expect((await s.fetchBytes(d1)).toString()).toBe('hello');
    expect(tmpEntries(s.dir)).toEqual([]);
  });

  it.each([
    ['wrong digest', (d: Descriptor) => ({ ...d, digest: digestOf('other') }), DigestMismatchError],
    ['short size', (d: Descriptor) => ({ ...d, size: d.size + 5 }), SizeMismatchError],
    ['long size', (d: Descriptor) => ({ ...d, size: d.size - 1 }), SizeMismatchError],
  ])('rejects a stream with %s and leaves nothing visible', async (_name, mutate, errClass) => {
    const s = await LayoutStore.open(freshDir());
    const [d, b] = blob('some content to store');
    const bad = mutate(d);
    await expect(s.push(bad, Readable.from([b]))).rejects.toBeInstanceOf(errClass);
    await expect(s.push(bad, b)).rejects.toBeInstanceOf(errClass);
    expect(existsSync(s.blobPath(bad.digest))).toBe(false);
    expect(await s.exists(bad)).toBe(false);
    expect(tmpEntries(s.dir)).toEqual([]);
  });

  it('adopts a finished file by rename, verifying it unless it was hashed while written', async () => {
    const s = await LayoutStore.open(freshDir());
    const [d, b] = blob('a layer written by this process');
    for (const hashedWhileWritten of [true, false]) {
      const f = join(work, `adopt-${++n}`);
      writeFileSync(f, b);
      await s.adoptFile(d, f, { hashedWhileWritten });
      expect(existsSync(f)).toBe(false);
      expect((await drain(await s.fetch(d))).equals(b)).toBe(true);
    }
  });

  it.skipIf(!existsSync('/dev/shm'))('adopts a file from another filesystem by a verified copy', async () => {
    const s = await LayoutStore.open(freshDir());
    const [d, b] = blob('a file on tmpfs');
    const f = join(mkdtempSync('/dev/shm/slipway-adopt-'), 'blob');
    writeFileSync(f, b);
    await s.adoptFile(d, f, { hashedWhileWritten: true });
    expect(existsSync(f)).toBe(false);
    expect((await drain(await s.fetch(d))).equals(b)).toBe(true);
    rmSync(join(f, '..'), { recursive: true, force: true });
    const [bad] = blob('not these bytes');
    const g = join(mkdtempSync('/dev/shm/slipway-adopt-'), 'blob');
    writeFileSync(g, b);
    await expect(s.adoptFile({ ...bad, size: b.length }, g, { hashedWhileWritten: true })).rejects.toBeInstanceOf(DigestMismatchError);
    expect(existsSync(s.blobPath(bad.digest))).toBe(false);
    rmSync(join(g, '..'), { recursive: true, force: true });
  });

  it.each([
    ['wrong digest, not hashed while written', (d: Descriptor) => ({ ...d, digest: digestOf('other') }), false, DigestMismatchError],
    ['wrong size, hashed while written', (d: Descriptor) => ({ ...d, size: d.size + 1 }), true, SizeMismatchError],
    ['wrong size, not hashed while written', (d: Descriptor) => ({ ...d, size: d.size - 1 }), false, SizeMismatchError],
  ])('refuses to adopt a file with %s and leaves nothing visible', async (_name, mutate, hashedWhileWritten, errClass) => {
    const s = await LayoutStore.open(freshDir());
    const [d, b] = blob('bytes of a file to adopt');
    const bad = mutate(d);
    const f = join(work, `adopt-${++n}`);
    writeFileSync(f, b);
    await expect(s.adoptFile(bad, f, { hashedWhileWritten })).rejects.toBeInstanceOf(errClass);
    expect(existsSync(s.blobPath(bad.digest))).toBe(false);
    expect(existsSync(f)).toBe(true);
  });

  it('detects a blob corrupted on disk when reading it', async () => {
    const s = await LayoutStore.open(freshDir());
    const [d, b] = blob('precious bytes');
    await s.push(d, b);
    writeFileSync(s.blobPath(d.digest), 'precious bytez');
    await expect(drain(await s.fetch(d))).rejects.toBeInstanceOf(DigestMismatchError);
    await expect(s.fetchBytes(d)).rejects.toBeInstanceOf(DigestMismatchError);
    await expect(s.fetch(blob('absent')[0])).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('tags, resolves, lists, retags and untags', async () => {
    const s = await LayoutStore.open(freshDir());
    const [m1, b1] = blob('{"schemaVersion":2,"config":{}}', MediaType.OCI_MANIFEST);
    const [m2, b2] = blob('{"schemaVersion":2,"config":{},"x":1}', MediaType.OCI_MANIFEST);
    await s.push(m1, b1);
    await s.push(m2, b2);
    await s.tag(m1, 'example.com/a:1');
    await s.tag(m1, 'example.com/a:2');
    await s.tag(m2, 'example.com/a:1'); // moves the tag
    expect((await s.resolve('example.com/a:1')).digest).toBe(m2.digest);
    expect((await s.resolve('example.com/a:2')).digest).toBe(m1.digest);
    expect((await s.resolve(m1.digest)).digest).toBe(m1.digest);
    expect((await s.resolve(`example.com/a@${m2.digest}`)).mediaType).toBe(MediaType.OCI_MANIFEST);
    expect((await s.list()).map((e) => e.ref).sort()).toEqual(['example.com/a:1', 'example.com/a:2']);
    expect((await s.untag('example.com/a:2'))?.digest).toBe(m1.digest);
    await expect(s.resolve('example.com/a:2')).rejects.toBeInstanceOf(RefNotFoundError);
    // still reachable by digest as a stored manifest blob, even untagged
    expect((await s.resolve(m1.digest)).digest).toBe(m1.digest);
    await expect(s.tag(blob('never pushed')[0], 'x')).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('gc removes unreferenced blobs and keeps what index.json reaches', async () => {
    const s = await LayoutStore.open(freshDir());
    const [layer, lb] = blob('layer bytes');
    const [cfg, cb] = blob('{"config":1}', MediaType.OCI_CONFIG);
    const [orphan, ob] = blob('orphan');
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OCI_MANIFEST, config: cfg, layers: [layer] }));
    const md: Descriptor = { mediaType: MediaType.OCI_MANIFEST, digest: digestOf(manifest), size: manifest.length };
    for (const [d, b] of [[layer, lb], [cfg, cb], [orphan, ob], [md, manifest]] as const) await s.push(d, b);
    await s.tag(md, 'r:1');
    const g = await s.gc();
    expect(g).toEqual({ removedBlobs: 1, removedBytes: ob.length, deferred: false });
    expect(await s.exists(layer)).toBe(true);
    const r = await s.remove('r:1');
    expect(r.gc.removedBlobs).toBe(3);
    expect(readdirSync(join(s.dir, 'blobs', 'sha256'))).toEqual([]);
    await expect(s.remove('r:1')).rejects.toBeInstanceOf(RefNotFoundError);
  });

  it('gc keeps unreferenced blobs while another live process holds a writer lease', async () => {
    const s = await LayoutStore.open(freshDir());
    const [d, b] = blob('in flight');
    await s.push(d, b);
    const other = spawn('sleep', ['30']);
    try {
      writeFileSync(join(s.dir, '.slipway-tmp', `lease-${other.pid}-abc`), '');
      expect((await s.gc()).deferred).toBe(true);
      expect(await s.exists(d)).toBe(true);
    } finally {
      other.kill('SIGKILL');
      await exited(other);
    }
    expect(await s.gc()).toMatchObject({ deferred: false, removedBlobs: 1 });
  });

  it('a writer killed with SIGKILL mid-blob leaves no blob, and the next open removes its temp file', async () => {
    const dir = freshDir();
    await LayoutStore.open(dir);
    const child = runChild(`
      import { LayoutStore } from '${storeModule}';
      import { Readable } from 'node:stream';
      const s = await LayoutStore.open(${JSON.stringify(dir)});
      setInterval(() => {}, 1000); // stay alive until killed
      let sent = 0;
      const body = new Readable({ read() {
        if (sent < 4) { sent++; this.push(Buffer.alloc(256 * 1024, 7)); }
        else if (sent === 4) { sent++; console.log('WRITING'); } // then never end
      } });
      await s.push({ mediaType: 'application/octet-stream', digest: 'sha256:${'a'.repeat(64)}', size: 10 << 20 }, body);
    `);
    await waitLine(child, /WRITING/);
    await new Promise((r) => setTimeout(r, 100));
    const temps = tmpEntries(dir);
    expect(temps.length).toBe(1);
    expect(statSync(join(dir, '.slipway-tmp', temps[0] as string)).size).toBeGreaterThan(0);
    child.kill('SIGKILL');
    await exited(child);
    expect(readdirSync(join(dir, 'blobs', 'sha256'))).toEqual([]);
    const s = await LayoutStore.open(dir);
    expect(tmpEntries(dir)).toEqual([]);
    const [d, b] = blob('after recovery');
    await s.push(d, b);
    expect(await s.exists(d)).toBe(true);
  });

  it('keeps the temp files of a live writer when another process opens the store', async () => {
    const dir = freshDir();
    await LayoutStore.open(dir);
    const child = runChild(`
      import { LayoutStore } from '${storeModule}';
      import { Readable } from 'node:stream';
      const s = await LayoutStore.open(${JSON.stringify(dir)});
      setInterval(() => {}, 1000); // stay alive until killed
      let sent = false;
      const body = new Readable({ read() { if (!sent) { sent = true; this.push(Buffer.alloc(1000)); console.log('WRITING'); } } });
      await s.push({ mediaType: 'application/octet-stream', digest: 'sha256:${'b'.repeat(64)}', size: 5000 }, body);
    `);
    try {
      await waitLine(child, /WRITING/);
      await new Promise((r) => setTimeout(r, 100));
      await LayoutStore.open(dir);
      expect(tmpEntries(dir).length).toBe(1);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  it('recovers the index lock of a process killed while holding it', async () => {
    const dir = freshDir();
    const s = await LayoutStore.open(dir);
    const child = runChild(`
      import { withFileLock } from '${storeModule}';
      await withFileLock(${JSON.stringify(join(dir, 'index.json.lock'))}, () => { console.log('LOCKED'); return new Promise(() => setInterval(() => {}, 1000)); });
    `);
    await waitLine(child, /LOCKED/);
    child.kill('SIGKILL');
    await exited(child);
    expect(existsSync(join(dir, 'index.json.lock'))).toBe(true);
    const [d, b] = blob('{"schemaVersion":2,"config":{}}', MediaType.OCI_MANIFEST);
    await s.push(d, b);
    const t0 = Date.now();
    await s.tag(d, 'after-crash');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await s.resolve('after-crash')).digest).toBe(d.digest);
    expect(existsSync(join(dir, 'index.json.lock'))).toBe(false);
  });

  it('two processes tagging at the same time lose no tag', async () => {
    const dir = freshDir();
    const s = await LayoutStore.open(dir);
    const [d, b] = blob('{"schemaVersion":2,"config":{}}', MediaType.OCI_MANIFEST);
    await s.push(d, b);
    const script = (who: string) => `
      import { LayoutStore } from '${storeModule}';
      const s = await LayoutStore.open(${JSON.stringify(dir)});
      const d = ${JSON.stringify(d)};
      await Promise.all(Array.from({ length: 40 }, (_, i) => s.tag(d, 'repo:${who}-' + i)));
      console.log('DONE');
    `;
    const kids = [runChild(script('a')), runChild(script('b'))];
    await Promise.all(kids.map((k) => waitLine(k, /DONE/)));
    await Promise.all(kids.map(exited));
    const refs = (await s.list()).map((e) => e.ref);
    expect(refs.length).toBe(80);
    expect(new Set(refs).size).toBe(80);
  });

  it('processes opening one new store directory at the same time all succeed, whoever creates it', async () => {
    ensureBuilt();
    // each opens the store (writing oci-layout and index.json) and closes it (removing the temp dir
    // when it is empty): one process's readdir could see another's oci-layout appear, or its temp
    // dir vanish under it
    const script = `import { LayoutStore } from ${JSON.stringify(storeModule)};
const s = await LayoutStore.open(process.argv[2]);
await s.close();
console.log('opened');`;
    const file = join(work, `open-race-${++n}.mjs`);
    writeFileSync(file, script);
    for (let round = 0; round < 6; round++) {
      const dir = freshDir();
      const results = await Promise.all(Array.from({ length: 6 }, () => new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [file, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', (code) => resolve({ code, out }));
      })));
      for (const r of results) expect(r, r.out).toEqual({ code: 0, out: 'opened\n' });
      expect(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
      expect(JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')).manifests).toEqual([]);
    }
  });

  it('takes one writer lease however many operations start at once, and close() leaves no temp dir', async () => {
    const dir = freshDir();
    const s = await LayoutStore.open(dir);
    const [d] = blob('not there');
    await Promise.all(Array.from({ length: 5 }, () => s.exists(d)));
    expect(readdirSync(join(dir, '.slipway-tmp')).filter((f) => f.startsWith('lease-'))).toHaveLength(1);
    await s.close();
    expect(existsSync(join(dir, '.slipway-tmp'))).toBe(false);
  });

  it('a store keeps writing after another one sharing its directory closed and removed the empty temp dir', async () => {
    // a store that only creates index.json holds no writer lease: its temp dir may be emptied and removed
    const creator = await LayoutStore.open(freshDir());
    const other = await LayoutStore.open(creator.dir);
    await other.close();
    await creator.updateIndex((idx) => ({ ...idx, annotations: { x: 'y' } }));
    expect((await creator.readIndex()).annotations).toEqual({ x: 'y' });
    await creator.close();
  });

  it('withFileLock serializes critical sections in one process', async () => {
    const path = join(work, 'serial.lock');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(Array.from({ length: 10 }, () => withFileLock(path, async () => {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await new Promise((r) => setTimeout(r, 2));
      inside--;
    })));
    expect(maxInside).toBe(1);
  });
});
