import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Compression, type Descriptor, type Digest, ociLayerMediaType } from '../oci/index.js';
import { type ContentSource, type LayerEntry, compareTarNames, isExcluded, sortKey, normalizeRel, tarName } from './changes.js';
import { SnapshotError } from './errors.js';
import { LayerSink } from './layer-sink.js';
import { END_OF_ARCHIVE, type TarHeader, encodeHeader, padding } from './tar-format.js';

const NO_XATTRS: ReadonlyMap<string, Buffer> = new Map();

export interface WriteLayerOptions {
  compression?: Compression;
  /** Compression level (gzip 1-9, zstd 1-19). */
  level?: number;
  /** Directory for the output file (put it on the store's filesystem so it can be renamed in). */
  tmpDir?: string;
  /** Clamp every mtime to this (seconds): SOURCE_DATE_EPOCH / --timestamp. */
  timestamp?: number;
  /** Paths (e.g. runtime-injected /etc/hosts) never written, with everything below them. */
  exclude?: readonly string[];
  /** gzip members compressed at once (default: CPUs + 1). They run on the libuv thread pool: set UV_THREADPOOL_SIZE above that at process start on big machines. */
  concurrency?: number;
  /** Uncompressed bytes per gzip member (default 1 MiB). */
  blockSize?: number;
}

export interface LayerResult {
  /** Temp file holding the (compressed) layer blob; the caller moves it into a store or deletes it. */
  path: string;
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  /** Size of the uncompressed tar. */
  uncompressedSize: number;
  /** Entries written. */
  entries: number;
}


/**
 * Writes a layer tarball from a change list: entries sorted, hard links once,
 * mtimes clamped, numeric ids only, PAX where ustar does not fit, no excluded
 * path. Returns undefined when nothing is left to write (docker's empty layer).
 */
export async function writeLayer(input: readonly LayerEntry[], opts: WriteLayerOptions = {}): Promise<LayerResult | undefined> {
  const excluded = (opts.exclude ?? []).map(normalizeRel);
  const named: Named[] = [];
  for (const e of input) {
    if (isExcluded(e.path, excluded) || (e.path === '' && e.type !== 'opaque')) continue;
    named.push({ e, name: tarName(e) });
  }
  if (named.length === 0) return undefined;
  if (!inLayerOrder(named)) {
    const keyed = named.map((n) => ({ n, key: sortKey(n.name) }));
    keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (let i = 0; i < keyed.length; i++) named[i] = (keyed[i] as { n: Named }).n;
  }
  for (let i = 1; i < named.length; i++) {
    if ((named[i] as Named).name === (named[i - 1] as Named).name) {
      throw new Error(`layer entries contain ${JSON.stringify((named[i] as Named).name)} twice`);
    }
  }
  return writeNamed([named], opts);
}

/**
 * Writes a layer from entries that already come in layer order (a sorted
 * walk), batch by batch: compression starts with the first block and the
 * change set is never held whole. Same bytes as writeLayer() on the same
 * entries; an entry out of order or given twice is an error.
 */
export async function writeLayerInOrder(batches: AsyncIterable<readonly LayerEntry[]> | Iterable<readonly LayerEntry[]>, opts: WriteLayerOptions = {}): Promise<LayerResult | undefined> {
  const excluded = (opts.exclude ?? []).map(normalizeRel);
  let prev: string | undefined;
  async function* checked(): AsyncGenerator<Named[]> {
    for await (const batch of batches) {
      const named: Named[] = [];
      for (const e of batch) {
        if (isExcluded(e.path, excluded) || (e.path === '' && e.type !== 'opaque')) continue;
        const name = tarName(e);
        if (prev !== undefined) {
          const c = compareTarNames(prev, name);
          if (c === 0) throw new Error(`layer entries contain ${JSON.stringify(name)} twice`);
          if (c > 0) throw new Error(`layer entry ${JSON.stringify(name)} came after ${JSON.stringify(prev)}: not in layer order`);
        }
        prev = name;
        named.push({ e, name });
      }
      yield named;
    }
  }
  return writeNamed(checked(), opts);
}

/** Writes named entries (in layer order) batch by batch; removes the temp file on any failure. */
async function writeNamed(batches: AsyncIterable<readonly Named[]> | Iterable<readonly Named[]>, opts: WriteLayerOptions): Promise<LayerResult | undefined> {
  const w = new TarLayerWriter(opts);
  try {
    for await (const batch of batches) {
      for (const { e, name } of batch) {
        const p = w.add(e, name);
        if (p !== undefined) await p;
      }
    }
    return await w.finish();
  } catch (err) {
    await w.abort();
    throw err;
  }
}

const VANISHED = new Set(['ENOENT', 'ELOOP', 'ENOTDIR']);

/** Opens a file a walk found, never following a symlink put in its place since. */
function openContent(path: string): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!VANISHED.has(code)) throw err;
    throw new SnapshotError(`${path} was removed or replaced while the layer was being written (${code})`, 'make sure no process still writes to the tree, then retry', err);
  }
}

interface Named {
  e: LayerEntry;
  name: string;
}

function inLayerOrder(named: readonly Named[]): boolean {
  for (let i = 1; i < named.length; i++) {
    if (compareTarNames((named[i - 1] as Named).name, (named[i] as Named).name) > 0) return false;
  }
  return true;
}

function sortedXattrs(x: Map<string, Buffer> | undefined): ReadonlyMap<string, Buffer> {
  return x === undefined || x.size === 0 ? NO_XATTRS : new Map([...x].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** One layer being written: entries in, in layer order; the temp file is created with the first. */
class TarLayerWriter {
  private sink: LayerSink | undefined;
  private path = '';
  private count = 0;
  private readonly firstOfInode = new Map<string, string>();
  private readonly compression: Compression;

  constructor(private readonly opts: WriteLayerOptions) {
    this.compression = opts.compression ?? 'gzip';
  }

  private clamp(t: number): number {
    const ts = this.opts.timestamp;
    return Math.floor(ts === undefined || t < ts ? t : ts);
  }

  /** Appends one entry; returns a promise only when it has to wait (see LayerSink). */
  add(e: LayerEntry, name: string): Promise<void> | undefined {
    const sink = this.sink ?? this.open();
    this.count++;
    const special = e.type === 'whiteout' || e.type === 'opaque';
    const h: TarHeader = {
      name,
      type: special ? 'file' : (e.type as TarHeader['type']),
      mode: e.mode & 0o7777,
      uid: e.uid,
      gid: e.gid,
      size: e.type === 'file' ? e.size : 0,
      mtime: this.clamp(e.mtime),
      linkname: e.linkname ?? '',
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
      xattrs: sortedXattrs(e.xattrs),
    };
    if (e.type === 'file' && e.inode !== undefined) {
      const first = this.firstOfInode.get(e.inode);
      if (first !== undefined) {
        h.type = 'hardlink';
        h.linkname = first;
        h.size = 0;
        return sink.write(encodeHeader(h));
      }
      this.firstOfInode.set(e.inode, name);
    }
    const p = sink.write(encodeHeader(h));
    if (h.type !== 'file' || h.size === 0) return p;
    if (p !== undefined) return p.then(() => this.content(sink, e, name));
    return this.content(sink, e, name);
  }

  private content(sink: LayerSink, e: LayerEntry, name: string): Promise<void> | undefined {
    const src = e.source;
    if (src === undefined) throw new Error(`layer entry ${name} is a file without content source`);
    if (!('path' in src)) return this.otherContent(sink, e, name);
    const fd = openContent(src.path);
    let p: Promise<void> | undefined;
    try {
      p = sink.writeFromFd(fd, e.size, src.path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (p === undefined) {
      closeSync(fd);
      return sink.zeros(padding(e.size));
    }
    return p.finally(() => closeSync(fd)).then(() => sink.zeros(padding(e.size)));
  }

  private async otherContent(sink: LayerSink, e: LayerEntry, name: string): Promise<void> {
    const src = e.source as Exclude<ContentSource, { path: string }>;
    if ('data' in src) {
      if (src.data.length !== e.size) throw new Error(`${name}: ${src.data.length} bytes given for a file of ${e.size}`);
      await sink.write(src.data);
    } else {
      const stream: Readable = await src.open();
      let n = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        n += chunk.length;
        if (n > e.size) {
          stream.destroy();
          throw new Error(`${name}: stream gave more than the declared ${e.size} bytes`);
        }
        await sink.write(chunk);
      }
      if (n !== e.size) throw new Error(`${name}: stream gave ${n} bytes, declared ${e.size}`);
    }
    await sink.zeros(padding(e.size));
  }

  private open(): LayerSink {
    this.path = join(this.opts.tmpDir ?? tmpdir(), `.slipway-layer-${randomBytes(8).toString('hex')}.tmp`);
    this.sink = LayerSink.open(this.path, {
      compression: this.compression,
      ...(this.opts.level === undefined ? {} : { level: this.opts.level }),
      ...(this.opts.concurrency === undefined ? {} : { concurrency: this.opts.concurrency }),
      ...(this.opts.blockSize === undefined ? {} : { blockSize: this.opts.blockSize }),
    });
    return this.sink;
  }

  /** Ends the archive; undefined (and no file) when no entry was added. */
  async finish(): Promise<LayerResult | undefined> {
    const sink = this.sink;
    if (sink === undefined) return undefined;
    const p = sink.write(END_OF_ARCHIVE);
    if (p !== undefined) await p;
    const r = await sink.finish();
    return {
      path: this.path,
      descriptor: { mediaType: ociLayerMediaType(this.compression), digest: r.digest, size: r.size },
      diffId: r.diffId,
      uncompressedSize: r.uncompressedSize,
      entries: this.count,
    };
  }

  async abort(): Promise<void> {
    if (this.sink === undefined) return;
    await this.sink.abort();
    await rm(this.path, { force: true });
  }
}
