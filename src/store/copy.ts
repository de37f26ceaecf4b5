import type { Readable } from 'node:stream';
import {
  SlipwayError, formatPlatform, hostPlatform, isIndex, isManifest, selectManifest,
  type Descriptor, type ImageIndex, type ImageManifest, type Platform,
} from '../oci/index.js';
import { warmFileHasher } from './file-hasher.js';
import { createLimiter, type Limiter } from './limit.js';
import type { BlobWriter, ReadableStore, Store } from './store.js';

/** Progress of a copy, as typed events (the CLI draws them; nothing here prints). */
export type CopyEvent =
  | { type: 'resolved'; descriptor: Descriptor }
  /** dst already had it. */
  | { type: 'blob-skipped'; descriptor: Descriptor }
  | { type: 'blob-started'; descriptor: Descriptor }
  /** `bytes` copied of this blob so far (emitted at most every 1 MiB, and at the end). */
  | { type: 'blob-progress'; descriptor: Descriptor; bytes: number }
  | { type: 'blob-done'; descriptor: Descriptor }
  /** A manifest or index was written to dst. */
  | { type: 'manifest-done'; descriptor: Descriptor }
  | { type: 'tagged'; descriptor: Descriptor; ref: string };

export interface CopyOptions {
  /**
   * When the source is an index: copy only the manifest for this platform and
   * point `dstRef` at it. 'all' (default) copies the whole index.
   * 'host' picks the host's platform.
   */
  platform?: Platform | 'all' | 'host';
  /** Blobs copied at once (default 4). */
  concurrency?: number;
  onProgress?: (e: CopyEvent) => void;
}

export interface CopyResult {
  /** What dstRef now points at (the index, or the selected platform manifest). */
  descriptor: Descriptor;
  blobsCopied: number;
  blobsSkipped: number;
  bytesCopied: number;
}

/** A blob that is neither manifest nor index in the place of one. */
export class UnsupportedManifestError extends SlipwayError {
  constructor(desc: Descriptor, where: string) {
    super('UNSUPPORTED_MANIFEST', `${where}: ${desc.digest} has media type ${desc.mediaType}, not an image manifest or index`, {
      hint: 'slipway copies OCI and Docker v2 schema 2 images; schema 1 and artifacts without a manifest are not supported',
    });
  }
}

/** Counts one blob's bytes: progress events at most every 1 MiB, and one at the end. */
function byteCounter(desc: Descriptor, emit: (e: CopyEvent) => void, onBytes: (n: number) => void): { add(n: number): void; end(): void } {
  let bytes = 0;
  let reported = 0;
  return {
    add(n) {
      bytes += n;
      onBytes(n);
      if (bytes - reported >= 1 << 20) {
        reported = bytes;
        emit({ type: 'blob-progress', descriptor: desc, bytes });
      }
    },
    end: () => emit({ type: 'blob-progress', descriptor: desc, bytes }),
  };
}

/**
 * Counts a blob's bytes as they go by, with no stream hop of its own: a 'data' listener sees
 * every chunk the consumer (pipe, pipeline, read()) takes. The stream is paused right away so
 * nothing flows before the consumer attaches.
 */
function countBytes(body: Readable, desc: Descriptor, emit: (e: CopyEvent) => void, onBytes: (n: number) => void): void {
  const counter = byteCounter(desc, emit, onBytes);
  body.on('data', (chunk: Buffer) => counter.add(chunk.length));
  body.pause();
  body.once('end', counter.end);
}

/** `w` with its bytes counted as they are written (see byteCounter). */
function countingWriter(w: BlobWriter, desc: Descriptor, emit: (e: CopyEvent) => void, onBytes: (n: number) => void): BlobWriter {
  const counter = byteCounter(desc, emit, onBytes);
  return {
    write(chunk) {
      counter.add(chunk.length);
      return w.write(chunk);
    },
    drain: () => w.drain(),
    async commit() {
      await w.commit();
      counter.end();
    },
    abort: () => w.abort(),
  };
}

/** Waits for every task (so nothing still writes after copy() returns), then throws the first failure. */
async function settleAll(tasks: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(tasks);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}

/** Configs up to this size are fetched into memory ahead of their turn. */
const PREFETCH_MAX = 1 << 20;

class Copier {
  private readonly limiter: Limiter;
  /** Set on the first failure: queued blobs are not started any more. */
  private failure: unknown;
  private readonly done = new Map<string, Promise<void>>();
  readonly result = { blobsCopied: 0, blobsSkipped: 0, bytesCopied: 0 };

  constructor(private readonly src: ReadableStore, private readonly dst: Store, private readonly opts: CopyOptions) {
    this.limiter = createLimiter(opts.concurrency ?? 4);
  }

  emit(e: CopyEvent): void {
    this.opts.onProgress?.(e);
  }

  /** Each digest is copied once, however many manifests share it. */
  private once(desc: Descriptor, work: () => Promise<void>): Promise<void> {
    let p = this.done.get(desc.digest);
    if (p === undefined) {
      p = work();
      this.done.set(desc.digest, p);
    }
    return p;
  }

  /** `prefetched`: the blob's bytes, already being fetched (verified) by src.fetchBytes. */
  blob(desc: Descriptor, prefetched?: Promise<Buffer | undefined>): Promise<void> {
    return this.once(desc, () => this.limiter.run(async () => {
      if (this.failure !== undefined) throw this.failure;
      if (await this.dst.exists(desc)) {
        this.result.blobsSkipped++;
        this.emit({ type: 'blob-skipped', descriptor: desc });
        return;
      }
      this.emit({ type: 'blob-started', descriptor: desc });
      try {
        const onBytes = (n: number): void => {
          this.result.bytesCopied += n;
        };
        const bytes = await prefetched;
        if (bytes !== undefined) {
          onBytes(bytes.length);
          await this.dst.push(desc, bytes);
        } else if (this.src.fetchTo !== undefined && this.dst.openBlobWriter !== undefined) {
          // the source delivers raw bytes, the destination's writer hashes and verifies them once
          const writer = countingWriter(await this.dst.openBlobWriter(desc, `blob ${desc.digest} from ${this.src.name}`), desc, (e) => this.emit(e), onBytes);
          try {
            await this.src.fetchTo(desc, writer);
            await writer.commit();
          } catch (e) {
            await writer.abort();
            throw e;
          }
        } else {
          const body: Readable = await this.src.fetch(desc);
          countBytes(body, desc, (e) => this.emit(e), onBytes);
          // body is src.fetch()'s verifying stream: a destination that can trusts it and hashes nothing again
          await (this.dst.pushVerified ? this.dst.pushVerified(desc, body) : this.dst.push(desc, body));
        }
      } catch (e) {
        this.failure ??= e;
        throw e;
      }
      this.result.blobsCopied++;
      this.emit({ type: 'blob-done', descriptor: desc });
    }));
  }

  /** Children first (layers, config / platform manifests), then the manifest or index itself. */
  node(desc: Descriptor, bytes?: Buffer): Promise<void> {
    return this.once(desc, async () => {
      if (await this.dst.exists(desc)) {
        this.result.blobsSkipped++;
        this.emit({ type: 'blob-skipped', descriptor: desc });
        return;
      }
      const raw = bytes ?? (await this.src.fetchBytes(desc));
      const obj = JSON.parse(raw.toString('utf8')) as Partial<ImageManifest & ImageIndex>;
      if (isIndex(desc.mediaType) || (Array.isArray(obj.manifests) && obj.config === undefined)) {
        await settleAll((obj.manifests ?? []).map((m) => (isManifest(m.mediaType) || isIndex(m.mediaType) ? this.node(m) : this.blob(m))));
      } else if (isManifest(desc.mediaType) || obj.config !== undefined) {
        if (obj.config === undefined || !Array.isArray(obj.layers)) throw new UnsupportedManifestError(desc, this.src.name);
        // a small config is fetched while the layers are (when dst has it already, that is one
        // small read for nothing)
        const config = obj.config;
        const prefetch = this.done.has(config.digest) || config.size > PREFETCH_MAX ? undefined
          : this.src.fetchBytes(config).catch(() => undefined);
        if (this.dst.openBlobWriter !== undefined) {
          // big layers are hashed on a worker thread: it boots while the first bytes arrive
          if (this.src.fetchTo !== undefined) warmFileHasher(Math.max(0, ...obj.layers.map((l) => l.size)));
          // a local store: the config needs not wait for the layers (only the manifest, which
          // says that all of them are there, must come last)
          await settleAll([...obj.layers.map((l) => this.blob(l)), this.blob(config, prefetch)]);
        } else {
          await settleAll(obj.layers.map((l) => this.blob(l)));
          await this.blob(config, prefetch);
        }
        if (obj.subject !== undefined && (await this.src.exists(obj.subject))) await this.node(obj.subject);
      } else {
        throw new UnsupportedManifestError(desc, this.src.name);
      }
      await this.dst.push(desc, raw);
      this.result.blobsCopied++;
      this.result.bytesCopied += raw.length;
      this.emit({ type: 'manifest-done', descriptor: desc });
    });
  }
}

/**
 * Copies the image `srcRef` names (a manifest or a whole index) from `src` to
 * `dst` and tags it `dstRef` there (no tag when `dstRef` is undefined). Each
 * digest is pushed once and skipped when dst has it; layers, then config (at once into
 * a local store: a destination with openBlobWriter), then manifest, then index, then the tag. `srcRef` may be a descriptor already resolved.
 */
export async function copy(
  src: ReadableStore,
  srcRef: string | Descriptor,
  dst: Store,
  dstRef: string | undefined,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const copier = new Copier(src, dst, opts);
  let root = typeof srcRef === 'string' ? await src.resolve(srcRef) : srcRef;
  copier.emit({ type: 'resolved', descriptor: root });
  let rootBytes: Buffer | undefined;
  const platform = opts.platform ?? 'all';
  if (platform !== 'all' && isIndex(root.mediaType)) {
    const wanted = platform === 'host' ? hostPlatform() : platform;
    // nested indexes: descend until a manifest
    while (isIndex(root.mediaType)) {
      const idx = JSON.parse((await src.fetchBytes(root)).toString('utf8')) as ImageIndex;
      const label = `${src.name} ${typeof srcRef === 'string' ? srcRef : srcRef.digest}`;
      const picked = selectManifest(idx.manifests, wanted, label);
      root = picked;
    }
    copier.emit({ type: 'resolved', descriptor: root });
  } else {
    rootBytes = await src.fetchBytes(root);
  }
  await copier.node(root, rootBytes);
  if (dstRef !== undefined) {
    await dst.tag(root, dstRef);
    copier.emit({ type: 'tagged', descriptor: root, ref: dstRef });
  }
  return { descriptor: root, ...copier.result };
}

/** "linux/amd64" or "all platforms", for messages. */
export function describePlatformChoice(p: CopyOptions['platform']): string {
  if (p === undefined || p === 'all') return 'all platforms';
  return formatPlatform(p === 'host' ? hostPlatform() : p);
}
