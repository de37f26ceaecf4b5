import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Compression, type Descriptor, type Digest, ociLayerMediaType } from '../oci/index.js';
import { type LayerEntry, isExcluded, sortKey, normalizeRel, tarName } from './changes.js';
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
  const named = input
    .filter((e) => !isExcluded(e.path, excluded) && !(e.path === '' && e.type !== 'opaque'))
    .map((e) => { const name = tarName(e); return { e, name, key: sortKey(name) }; });
  if (named.length === 0) return undefined;
  named.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 1; i < named.length; i++) {
    if ((named[i] as { name: string }).name === (named[i - 1] as { name: string }).name) {
      throw new Error(`layer entries contain ${JSON.stringify((named[i] as { name: string }).name)} twice`);
    }
  }

  const compression = opts.compression ?? 'gzip';
  const path = join(opts.tmpDir ?? tmpdir(), `.slipway-layer-${randomBytes(8).toString('hex')}.tmp`);
  const sink = await LayerSink.create(path, {
    compression,
    ...(opts.level === undefined ? {} : { level: opts.level }),
    ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
    ...(opts.blockSize === undefined ? {} : { blockSize: opts.blockSize }),
  });
  const clamp = (t: number): number => Math.floor(opts.timestamp === undefined ? t : Math.min(t, opts.timestamp));
  const firstOfInode = new Map<string, string>();

  try {
    for (let i = 0; i < named.length; i++) {
      const { e, name } = named[i] as { e: LayerEntry; name: string };
      const h: TarHeader = {
        name,
        type: e.type === 'whiteout' || e.type === 'opaque' ? 'file' : e.type,
        mode: e.mode & 0o7777,
        uid: e.uid,
        gid: e.gid,
        size: e.type === 'file' ? e.size : 0,
        mtime: clamp(e.mtime),
        linkname: e.linkname ?? '',
        devmajor: e.devmajor ?? 0,
        devminor: e.devminor ?? 0,
        xattrs: e.xattrs === undefined || e.xattrs.size === 0 ? NO_XATTRS : new Map([...e.xattrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
      };
      if (e.type === 'whiteout' || e.type === 'opaque') h.size = 0;
      if (e.type === 'file' && e.inode !== undefined) {
        const first = firstOfInode.get(e.inode);
        if (first !== undefined) {
          h.type = 'hardlink';
          h.linkname = first;
          h.size = 0;
          await sink.write(encodeHeader(h));
          continue;
        }
        firstOfInode.set(e.inode, name);
      }
      await sink.write(encodeHeader(h));
      if (h.type === 'file' && h.size > 0) {
        await writeContent(sink, e, name);
        await sink.zeros(padding(h.size));
      }
    }
    await sink.write(END_OF_ARCHIVE);
    const r = await sink.finish();
    return {
      path,
      descriptor: { mediaType: ociLayerMediaType(compression), digest: r.digest, size: r.size },
      diffId: r.diffId,
      uncompressedSize: r.uncompressedSize,
      entries: named.length,
    };
  } catch (err) {
    await sink.abort();
    await rm(path, { force: true });
    throw err;
  }
}

async function writeContent(sink: LayerSink, e: LayerEntry, name: string): Promise<void> {
  const src = e.source;
  if (src === undefined) throw new Error(`layer entry ${name} is a file without content source`);
  if ('data' in src) {
    if (src.data.length !== e.size) throw new Error(`${name}: ${src.data.length} bytes given for a file of ${e.size}`);
    await sink.write(src.data);
    return;
  }
  if ('path' in src) {
    const fd = openSync(src.path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      await sink.writeFromFd(fd, e.size, src.path);
    } finally {
      closeSync(fd);
    }
    return;
  }
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
