import { randomBytes } from 'node:crypto';
import { createReadStream, unlinkSync, type Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ANNOTATION_REF_NAME, MediaType, SizeMismatchError, VerifyStream, isDigest, isIndex, isManifest, parseDigest, verifyBytes,
  type Descriptor, type Digest, type ImageIndex, type ImageManifest,
} from '../oci/index.js';
import { BlobNotFoundError, RefNotFoundError, StoreError } from './errors.js';
import { pidAlive, withFileLock } from './lock.js';
import { BlobFileWriter } from './blob-file-writer.js';
import type { BlobWriter, Store } from './store.js';

const TMP_DIR = '.slipway-tmp';
const LOCK_FILE = 'index.json.lock';
/** A temp file of a process we cannot see (other host, other pid namespace) is removed after this long. */
const ORPHAN_TMP_MS = 24 * 3600 * 1000;
/** Manifests, indexes and configs held in memory are refused above this size. */
const MAX_JSON_BLOB = 32 * 1024 * 1024;

/** One entry of a layout's index.json; `ref` is its org.opencontainers.image.ref.name, if any. */
export interface LayoutEntry {
  ref: string | undefined;
  descriptor: Descriptor;
}

export interface GcResult {
  removedBlobs: number;
  removedBytes: number;
  /** True when another live process was writing to the store: unreferenced blobs were kept for now. */
  deferred: boolean;
}

export interface LayoutStoreOptions {
  /** Create the layout when `dir` is missing or empty (default true). */
  create?: boolean;
  /** Name used in messages (default: the directory). */
  name?: string;
}

/** A descriptor as it goes into index.json or back to a caller: no ref name annotation. */
function plainDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform !== undefined) out.platform = d.platform;
  if (d.artifactType !== undefined) out.artifactType = d.artifactType;
  if (d.urls !== undefined) out.urls = d.urls;
  if (d.annotations !== undefined) {
    const rest = Object.fromEntries(Object.entries(d.annotations).filter(([k]) => k !== ANNOTATION_REF_NAME));
    if (Object.keys(rest).length > 0) out.annotations = rest;
  }
  return out;
}

/** Writer leases of this process, removed at exit even when close() was never called. */
const liveLeases = new Set<string>();
let exitHookInstalled = false;
function dropLease(path: string): void {
  liveLeases.delete(path);
  try {
    unlinkSync(path);
  } catch {
    /* gone already */
  }
}
function dropAllLeases(): void {
  for (const p of [...liveLeases]) dropLease(p);
}

/** Writes `data` through `fh`, flushes it to disk and closes `fh`. */
async function writeSynced(fh: FileHandle, data: Uint8Array): Promise<void> {
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function nonce(): string {
  return randomBytes(6).toString('hex');
}

/** Media type of a manifest/index blob whose descriptor we do not have (resolve by digest). */
export function sniffMediaType(bytes: Buffer): string {
  let obj: { mediaType?: unknown; manifests?: unknown; config?: unknown };
  try {
    obj = JSON.parse(bytes.toString('utf8')) as typeof obj;
  } catch {
    return 'application/octet-stream';
  }
  if (typeof obj.mediaType === 'string') return obj.mediaType;
  if (Array.isArray(obj.manifests)) return MediaType.OCI_INDEX;
  if (obj.config !== undefined) return MediaType.OCI_MANIFEST;
  return 'application/octet-stream';
}

/**
 * A content store over an OCI image layout directory (`oci-layout`, `index.json`,
 * `blobs/<alg>/<hex>`). Blob writes go to a temp file in `.slipway-tmp/`, are
 * verified while streaming, fsynced and renamed into place: a blob is visible
 * complete or not at all. index.json changes happen under a lock file and are
 * written with temp+rename, so concurrent processes never lose each other's tags.
 * Tags are `org.opencontainers.image.ref.name` annotations.
 */
export class LayoutStore implements Store {
  readonly name: string;
  private leasePath: string | undefined;
  /** takeLease() under way or done (one lease however many operations ask at once). */
  private leaseTaken: Promise<void> | undefined;

  private constructor(readonly dir: string, name: string) {
    this.name = name;
  }

  /** Opens (and by default creates) the layout at `dir`; removes temp files that dead processes left behind. */
  static async open(dir: string, opts: LayoutStoreOptions = {}): Promise<LayoutStore> {
    const store = new LayoutStore(dir, opts.name ?? dir);
    await store.init(opts.create ?? true);
    return store;
  }

  private get tmpDir(): string {
    return join(this.dir, TMP_DIR);
  }

  private async init(create: boolean, again = false): Promise<void> {
    const layoutFile = join(this.dir, 'oci-layout');
    const layout = await readFile(layoutFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
      throw new StoreError(`cannot read ${layoutFile}: ${e.message}`, 'check the permissions of the store directory', e);
    });
    if (layout === undefined) {
      if (!create) throw new StoreError(`${this.dir} is not an OCI image layout (no oci-layout file)`, 'give the path of a directory written by skopeo, buildah, slipway or docker save');
      const entries = await readdir(this.dir).catch(() => [] as string[]);
      // another process sharing the store created it since the read above: open it as it is
      // (once: an oci-layout that cannot be read, a dangling symlink say, is refused below)
      if (entries.includes('oci-layout') && !again) return this.init(create, true);
      if (entries.some((e) => e !== TMP_DIR && e !== 'blobs' && e !== 'index.json' && e !== LOCK_FILE)) {
        throw new StoreError(`${this.dir} is not empty and not an OCI image layout`, 'choose an empty or new directory');
      }
      await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true }).catch((e: Error) => {
        throw new StoreError(`cannot create ${this.dir}: ${e.message}`, 'choose a writable directory (--root DIR)', e);
      });
      await this.atomicWrite('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    } else {
      let version: unknown;
      try {
        version = (JSON.parse(layout) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
      } catch {
        version = undefined;
      }
      if (typeof version !== 'string' || !version.startsWith('1.')) {
        throw new StoreError(`${layoutFile}: unsupported imageLayoutVersion ${JSON.stringify(version)}`, 'slipway reads OCI image layouts of version 1.x');
      }
      await this.cleanTemps();
    }
    const indexExists = await stat(join(this.dir, 'index.json')).then(() => true, () => false);
    if (!indexExists) {
      await this.updateIndex((idx) => idx);
    }
  }

  /** Removes temp files whose writer is gone (dead pid), or that are very old. Another live process's files stay. */
  private async cleanTemps(): Promise<void> {
    const names = await readdir(this.tmpDir).catch(() => [] as string[]);
    await Promise.all(names.map(async (n) => {
      const m = /^(?:blob|index|file|lease)-(\d+)-/.exec(n);
      const p = join(this.tmpDir, n);
      const st = await stat(p).catch(() => undefined);
      if (st === undefined) return;
      const dead = m !== null && !pidAlive(Number(m[1]));
      if (dead || Date.now() - st.mtimeMs > ORPHAN_TMP_MS) await unlink(p).catch(() => undefined);
    }));
  }

  private tmpPath(kind: 'blob' | 'index' | 'file' | 'lease'): string {
    return join(this.tmpDir, `${kind}-${process.pid}-${nonce()}`);
  }

  /**
   * Creates a new temp file of `kind` (O_EXCL). Another process sharing the store removes the
   * temp dir when it closes and finds it empty, which may be just after this one made it: the
   * dir is then made again.
   */
  private async openTemp(kind: 'blob' | 'index' | 'file' | 'lease', flags: 'wx' | 'wx+'): Promise<{ tmp: string; fh: FileHandle }> {
    for (let attempt = 1; ; attempt++) {
      await this.ensureTmp();
      const tmp = this.tmpPath(kind);
      try {
        return { tmp, fh: await open(tmp, flags, 0o644) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw e;
        this.tmpReady = undefined;
      }
    }
  }

  /** The temp dir is made on first write only, so reading a layout leaves no trace in it. */
  private tmpReady: Promise<unknown> | undefined;
  private ensureTmp(): Promise<unknown> {
    this.tmpReady ??= mkdir(this.tmpDir, { recursive: true }).catch((e: Error) => {
      this.tmpReady = undefined;
      throw new StoreError(`cannot create ${this.tmpDir}: ${e.message}`, 'check that the store directory is writable', e);
    });
    return this.tmpReady;
  }

  /**
   * Marks this process as a writer, so a concurrent gc in another process keeps
   * unreferenced blobs. Best effort: a read-only layout simply gets no lease.
   */
  private takeLease(): Promise<void> {
    this.leaseTaken ??= this.openTemp('lease', 'wx').then(
      async ({ tmp, fh }) => {
        try {
          await fh.writeFile(`${process.pid}\n`);
        } finally {
          await fh.close();
        }
        this.leasePath = tmp;
        liveLeases.add(tmp);
        if (!exitHookInstalled) {
          exitHookInstalled = true;
          process.once('exit', dropAllLeases);
        }
      },
    ).catch(() => undefined);
    return this.leaseTaken;
  }

  /** Releases this process's writer lease and removes the temp dir when empty. Safe to call twice. */
  async close(): Promise<void> {
    await this.leaseTaken;
    this.leaseTaken = undefined;
    if (this.leasePath !== undefined) {
      dropLease(this.leasePath);
      this.leasePath = undefined;
    }
    this.tmpReady = undefined;
    await rmdir(this.tmpDir).catch(() => undefined);
  }

  /** Path of a blob file (whether or not it exists). */
  blobPath(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, hex);
  }

  private where(desc: Descriptor): string {
    return `blob ${desc.digest} in ${this.name}`;
  }

  async exists(desc: Descriptor): Promise<boolean> {
    await this.takeLease();
    const st = await stat(this.blobPath(desc.digest)).catch(() => undefined);
    return st !== undefined && st.isFile() && st.size === desc.size;
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    const path = this.blobPath(desc.digest);
    const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new BlobNotFoundError(desc.digest, this.name);
      throw new StoreError(`cannot read ${path}: ${e.message}`, 'check the permissions of the store', e);
    });
    const src = fh.createReadStream({ highWaterMark: 1 << 20 });
    const verify = new VerifyStream(desc.digest, desc.size, this.where(desc));
    src.on('error', (e) => verify.destroy(e));
    verify.on('close', () => {
      if (!src.destroyed) src.destroy();
    });
    return src.pipe(verify);
  }

  async fetchBytes(desc: Descriptor): Promise<Buffer> {
    if (desc.size > MAX_JSON_BLOB) {
      throw new StoreError(`${this.where(desc)} is ${desc.size} bytes, too large to hold in memory`, 'this is not a manifest, index or config');
    }
    const path = this.blobPath(desc.digest);
    const data = await readFile(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') throw new BlobNotFoundError(desc.digest, this.name);
      throw new StoreError(`cannot read ${path}: ${e.message}`, 'check the permissions of the store', e);
    });
    verifyBytes(data, desc.digest, desc.size, this.where(desc));
    return data;
  }

  async push(desc: Descriptor, body: Readable | Uint8Array): Promise<void> {
    return this.write(desc, body, true);
  }

  /**
   * Stores a blob from a stream that verifies itself (a BlobSource.fetch() result, see
   * Store.pushVerified): no second hash here; the temp file is renamed into place only after
   * the stream ended without error, and its size is checked against `desc.size`.
   */
  async pushVerified(desc: Descriptor, body: Readable): Promise<void> {
    return this.write(desc, body, false);
  }

  /**
   * A writer for one blob (see BlobWriter): chunks go straight to a temp file in
   * `.slipway-tmp/` with positional writes, the file is hashed as it grows on a worker thread,
   * and commit() makes it visible only when size and digest match (fsync, then rename).
   */
  async openBlobWriter(desc: Descriptor, where?: string): Promise<BlobWriter> {
    parseDigest(desc.digest);
    await this.takeLease();
    const { tmp, fh } = await this.openTemp('blob', 'wx+').catch((e: Error) => {
      throw new StoreError(`cannot create a temp file in ${this.tmpDir}: ${e.message}`, 'check that the store directory is writable', e);
    });
    return new BlobFileWriter(fh, tmp, this.blobPath(desc.digest), desc, where ?? this.where(desc));
  }

  private async write(desc: Descriptor, body: Readable | Uint8Array, verify: boolean): Promise<void> {
    await this.takeLease();
    const final = this.blobPath(desc.digest);
    let tmp: string | undefined;
    let out: ReturnType<FileHandle['createWriteStream']> | undefined;
    try {
      if (body instanceof Uint8Array) verifyBytes(body, desc.digest, desc.size, this.where(desc));
      const created = await this.openTemp('blob', 'wx');
      tmp = created.tmp;
      if (body instanceof Uint8Array) {
        await writeSynced(created.fh, body);
      } else {
        out = created.fh.createWriteStream({ highWaterMark: 1 << 20 });
        if (verify) await pipeline(body, new VerifyStream(desc.digest, desc.size, this.where(desc)), out);
        else await pipeline(body, out);
        const fh = await open(tmp, 'r');
        try {
          const { size } = await fh.stat();
          if (size !== desc.size) throw new SizeMismatchError(desc.size, size, this.where(desc));
          await fh.sync();
        } finally {
          await fh.close();
        }
      }
      await mkdir(join(final, '..'), { recursive: true });
      await rename(tmp, final);
    } catch (e) {
      // a failed pipeline may leave the file still being opened: unlink only once it is closed
      if (out !== undefined && !out.closed) await new Promise<void>((r) => out?.destroy().once('close', () => r()));
      if (tmp !== undefined) await unlink(tmp).catch(() => undefined);
      if (!(body instanceof Uint8Array) && !body.destroyed) body.destroy();
      throw e;
    }
  }

  /**
   * Moves a finished blob file into the store by rename, with no second copy of its
   * bytes. On success `path` is gone; on failure it is left for the caller to remove.
   *
   * `hashedWhileWritten: true` is the caller's statement that `desc.digest` was computed
   * in the same single pass that wrote exactly these bytes to `path`, that `path` was
   * created exclusively (O_EXCL) by this process and that no other handle writes it (the
   * build's layer writer: it hashes every compressed block as it writes it to a new file
   * under the store root's tmp/). That hash is this blob's verification: the bytes on disk
   * are the bytes that were hashed, so hashing them again could only find the same digest.
   * The size is still checked against `desc.size`. Without the flag the file is read once
   * through a VerifyStream before it is renamed. Either way it is fsynced before it becomes
   * visible, as push() does. When `path` is on another filesystem (rename fails with EXDEV)
   * it is copied in through push(), which verifies the bytes it copies.
   */
  async adoptFile(desc: Descriptor, path: string, opts: { hashedWhileWritten: boolean }): Promise<void> {
    await this.takeLease();
    const final = this.blobPath(desc.digest);
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size !== desc.size) throw new SizeMismatchError(desc.size, st.size, `${this.where(desc)} (from ${path})`);
      if (!opts.hashedWhileWritten) {
        await pipeline(fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false }), new VerifyStream(desc.digest, desc.size, `${this.where(desc)} (from ${path})`), new Writable({ write: (_c, _e, cb) => cb() }));
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await mkdir(join(final, '..'), { recursive: true });
    try {
      await rename(path, final);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw new StoreError(`cannot move ${path} to ${final}: ${(e as Error).message}`, 'check that the store directory is writable', e);
      await this.push(desc, createReadStream(path, { highWaterMark: 1 << 20 }));
      await unlink(path).catch(() => undefined);
    }
  }

  /** Writes `data` to `<dir>/<rel>` via temp + fsync + rename. */
  private async atomicWrite(rel: string, data: Uint8Array): Promise<void> {
    let tmp: string | undefined;
    try {
      const created = await this.openTemp(rel === 'index.json' ? 'index' : 'file', 'wx');
      tmp = created.tmp;
      await writeSynced(created.fh, data);
      await rename(tmp, join(this.dir, rel));
    } catch (e) {
      if (tmp !== undefined) await unlink(tmp).catch(() => undefined);
      throw new StoreError(`cannot write ${join(this.dir, rel)}: ${(e as Error).message}`, 'check that the store directory is writable and has free space', e);
    }
  }

  /** The layout's index.json as it is on disk now. */
  async readIndex(): Promise<ImageIndex> {
    const path = join(this.dir, 'index.json');
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw new StoreError(`cannot read ${path}: ${e.message}`, 'check the permissions of the store', e);
    });
    if (text === undefined) return { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: [] };
    let idx: ImageIndex;
    try {
      idx = JSON.parse(text) as ImageIndex;
    } catch (e) {
      throw new StoreError(`${path} is not valid JSON: ${(e as Error).message}`, 'restore index.json or remove the store directory', e);
    }
    if (idx.schemaVersion !== 2 || !Array.isArray(idx.manifests)) {
      throw new StoreError(`${path} is not an OCI image index (schemaVersion 2 with manifests[])`, 'restore index.json or remove the store directory');
    }
    return idx;
  }

  /**
   * Read-modify-write of index.json under the store lock: `fn` gets the current
   * index and returns the new one. Concurrent updaters serialize; none is lost.
   */
  async updateIndex(fn: (idx: ImageIndex) => ImageIndex | Promise<ImageIndex>): Promise<ImageIndex> {
    return this.locked(async () => {
      const next = await fn(await this.readIndex());
      const out: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests: next.manifests };
      if (next.annotations !== undefined) out.annotations = next.annotations;
      await this.atomicWrite('index.json', Buffer.from(JSON.stringify(out)));
      return out;
    });
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return withFileLock(join(this.dir, LOCK_FILE), fn);
  }

  /** Every index.json entry with its ref name (if any). */
  async list(): Promise<LayoutEntry[]> {
    const idx = await this.readIndex();
    return idx.manifests.map((d) => ({ ref: d.annotations?.[ANNOTATION_REF_NAME], descriptor: plainDescriptor(d) }));
  }

  /**
   * Resolves a ref name (exact match), or a digest / `name@digest` (an index.json
   * entry, or any manifest/index blob the store holds).
   */
  async resolve(ref: string): Promise<Descriptor> {
    const idx = await this.readIndex();
    const byName = idx.manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === ref);
    if (byName !== undefined) return plainDescriptor(byName);
    const at = ref.lastIndexOf('@');
    const digest = isDigest(ref) ? ref : at >= 0 && isDigest(ref.slice(at + 1)) ? ref.slice(at + 1) : undefined;
    if (digest !== undefined) {
      const entry = idx.manifests.find((d) => d.digest === digest);
      if (entry !== undefined) return plainDescriptor(entry);
      const st: Stats | undefined = await stat(this.blobPath(digest)).catch(() => undefined);
      if (st !== undefined && st.size <= MAX_JSON_BLOB) {
        const desc: Descriptor = { mediaType: 'application/octet-stream', digest, size: st.size };
        const bytes = await this.fetchBytes(desc);
        const mediaType = sniffMediaType(bytes);
        if (isManifest(mediaType) || isIndex(mediaType)) return { ...desc, mediaType };
      }
    }
    throw new RefNotFoundError(ref, this.name);
  }

  async tag(desc: Descriptor, ref: string): Promise<void> {
    if (!(await this.exists(desc))) throw new BlobNotFoundError(desc.digest, this.name);
    await this.updateIndex((idx) => {
      const keep = idx.manifests.filter((d) => {
        const name = d.annotations?.[ANNOTATION_REF_NAME];
        if (name === ref) return false;
        return !(name === undefined && d.digest === desc.digest); // an untagged duplicate
      });
      const entry = plainDescriptor(desc);
      entry.annotations = { ...entry.annotations, [ANNOTATION_REF_NAME]: ref };
      return { ...idx, manifests: [...keep, entry] };
    });
  }

  /** Adds `desc` to index.json without a name (keeps it from gc), unless it is there already. */
  async addUntagged(desc: Descriptor): Promise<void> {
    await this.updateIndex((idx) =>
      idx.manifests.some((d) => d.digest === desc.digest) ? idx : { ...idx, manifests: [...idx.manifests, plainDescriptor(desc)] });
  }

  /** Removes the name `ref`; returns the descriptor it pointed at, or undefined. Blobs stay until gc(). */
  async untag(ref: string): Promise<Descriptor | undefined> {
    let removed: Descriptor | undefined;
    await this.updateIndex((idx) => {
      const i = idx.manifests.findIndex((d) => d.annotations?.[ANNOTATION_REF_NAME] === ref);
      if (i < 0) return idx;
      removed = plainDescriptor(idx.manifests[i] as Descriptor);
      return { ...idx, manifests: idx.manifests.filter((_, j) => j !== i) };
    });
    return removed;
  }

  /** Untags `ref` and collects the blobs nothing references any more. Throws RefNotFoundError if absent. */
  async remove(ref: string): Promise<{ descriptor: Descriptor; gc: GcResult }> {
    const descriptor = await this.untag(ref);
    if (descriptor === undefined) throw new RefNotFoundError(ref, this.name);
    return { descriptor, gc: await this.gc() };
  }

  /** Digests reachable from `roots` (manifests, indexes, configs, layers). Missing blobs are skipped. */
  async reachable(roots: readonly Descriptor[]): Promise<Set<Digest>> {
    const seen = new Set<Digest>();
    const walk = async (d: Descriptor): Promise<void> => {
      if (seen.has(d.digest)) return;
      seen.add(d.digest);
      if (!isManifest(d.mediaType) && !isIndex(d.mediaType)) return;
      let obj: Partial<ImageManifest & ImageIndex>;
      try {
        obj = JSON.parse((await this.fetchBytes(d)).toString('utf8')) as Partial<ImageManifest & ImageIndex>;
      } catch {
        return; // missing or corrupt: nothing below it to keep
      }
      const children = [...(obj.manifests ?? []), ...(obj.config ? [obj.config] : []), ...(obj.layers ?? [])];
      if (obj.subject) children.push(obj.subject);
      for (const c of children) await walk(c);
    };
    for (const r of roots) await walk(r);
    return seen;
  }

  /** Deletes blobs not reachable from index.json (under the lock; deferred while another process writes). */
  async gc(): Promise<GcResult> {
    return this.locked(async () => {
      const result: GcResult = { removedBlobs: 0, removedBytes: 0, deferred: false };
      if (await this.foreignWriterAlive()) return { ...result, deferred: true };
      const keep = await this.reachable((await this.readIndex()).manifests);
      const blobsDir = join(this.dir, 'blobs');
      for (const alg of await readdir(blobsDir).catch(() => [] as string[])) {
        for (const hex of await readdir(join(blobsDir, alg)).catch(() => [] as string[])) {
          const digest = `${alg}:${hex}`;
          if (keep.has(digest)) continue;
          const p = join(blobsDir, alg, hex);
          const st = await stat(p).catch(() => undefined);
          if (st === undefined || !st.isFile()) continue;
          await unlink(p).catch(() => undefined);
          result.removedBlobs++;
          result.removedBytes += st.size;
        }
      }
      return result;
    });
  }

  private async foreignWriterAlive(): Promise<boolean> {
    for (const n of await readdir(this.tmpDir).catch(() => [] as string[])) {
      const m = /^lease-(\d+)-/.exec(n);
      if (m === null) continue;
      const p = join(this.tmpDir, n);
      if (p === this.leasePath) continue;
      if (pidAlive(Number(m[1]))) return true;
      await unlink(p).catch(() => undefined);
    }
    return false;
  }
}
