import { once } from 'node:events';
import { posix } from 'node:path';
import { createRequire } from 'node:module';
import type Tar from 'tar-stream';
import type { KeepSet } from './in-place-keep.js';

export interface LayerFilterOptions {
  keep: KeepSet;
  /** Layer digest, for warnings. */
  layer: string;
  /** Remove extended attributes (when setfattr is gone after the first wipe). */
  dropXattrs?: boolean;
  onWarning?(message: string): void;
  /** Called for a whiteout of a directory that holds kept paths: empty it around them (the entry itself is dropped). */
  onWhiteoutHoldingKept?(path: string): void;
}

const requireCjs = createRequire(import.meta.url);
/** tar-stream loads when a layer is filtered, not at every CLI start. */
const tarStream = (): typeof Tar => requireCjs('tar-stream') as typeof Tar;

type PaxHeaders = Tar.Header & { pax?: Record<string, string> | null };

interface WritableLike {
  write(chunk: Buffer): boolean;
  end(): unknown;
  once(event: string, fn: (...a: unknown[]) => void): unknown;
}

/** Copies chunks into a (streamx) writable with backpressure, then ends it and waits for it to finish. */
async function copyInto(src: AsyncIterable<Buffer>, dst: WritableLike): Promise<void> {
  for await (const chunk of src) {
    if (!dst.write(chunk)) await once(dst as unknown as NodeJS.EventEmitter, 'drain');
  }
  const done = new Promise<void>((res, rej) => {
    dst.once('finish', () => res());
    dst.once('error', (e) => rej(e as Error));
  });
  dst.end();
  await done;
}

/** Image path (absolute, normalized) of a tar entry name. */
export function entryPath(name: string): string {
  const n = posix.normalize(`/${name}`);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/**
 * What an in-place build does with one layer entry: `keep` it, `drop` it (it
 * would write a kept path), or empty a directory around kept paths (a whiteout
 * of a directory that holds one).
 */
export function classifyEntry(h: { name: string; type?: string | null; linkname?: string | null }, keep: KeepSet): { action: 'pass' } | { action: 'drop'; why: string } | { action: 'empty'; path: string } {
  const p = entryPath(h.name);
  const base = posix.basename(p);
  const dir = posix.dirname(p);
  if (base === '.wh..wh..opq') {
    if (keep.isKept(dir)) return { action: 'drop', why: `opaque marker inside kept ${dir}` };
    if (keep.holdsKept(dir) || dir === '/') return { action: 'drop', why: `opaque marker on ${dir}, which holds kept paths` };
    return { action: 'pass' };
  }
  if (base.startsWith('.wh.')) {
    const target = posix.join(dir, base.slice(4));
    if (keep.isKept(target)) return { action: 'drop', why: `whiteout of kept ${target}` };
    if (keep.holdsKept(target)) return { action: 'empty', path: target };
    return { action: 'pass' };
  }
  if (p === '/') return h.type === 'directory' ? { action: 'pass' } : { action: 'drop', why: 'non-directory root entry' };
  if (keep.isKept(p)) return { action: 'drop', why: `${p} is kept` };
  if (keep.holdsKept(p) && h.type !== 'directory') return { action: 'drop', why: `${p} holds kept paths and must stay a directory` };
  if (h.type === 'link' && h.linkname && keep.isKept(entryPath(h.linkname))) return { action: 'drop', why: `hard link to kept ${entryPath(h.linkname)}` };
  return { action: 'pass' };
}

/**
 * Re-streams an uncompressed layer tar without the entries an in-place build
 * must not apply (kept paths: /proc, /sys, /dev, mounts, slipway, the context,
 * the store). Streaming: nothing is held in memory beyond one entry's buffers.
 */
export function filterLayerTar(input: AsyncIterable<Buffer>, opts: LayerFilterOptions): AsyncIterable<Buffer> {
  const tar = tarStream();
  const extract = tar.extract();
  const pack = tar.pack();
  const warned = new Set<string>();
  const warn = (why: string): void => {
    const key = why.split(' ')[0] ?? why;
    if (warned.has(key)) return;
    warned.add(key);
    opts.onWarning?.(`layer ${opts.layer}: skipped an entry: ${why} (in-place builds leave it alone)`);
  };
  const feed = copyInto(input, extract as unknown as WritableLike);
  const pump = (async () => {
    for await (const entry of extract) {
      const h = entry.header as PaxHeaders;
      const c = classifyEntry(h, opts.keep);
      if (c.action !== 'pass') {
        if (c.action === 'drop') warn(c.why);
        else opts.onWhiteoutHoldingKept?.(c.path);
        for await (const _ of entry) void _;
        continue;
      }
      if (opts.dropXattrs && h.pax) {
        const kept = Object.fromEntries(Object.entries(h.pax).filter(([k]) => !k.startsWith('SCHILY.xattr.') && !k.startsWith('LIBARCHIVE.xattr.')));
        if (Object.keys(kept).length !== Object.keys(h.pax).length) warn(`extended attributes of ${entryPath(h.name)} (setfattr is not available after the root filesystem was replaced)`);
        h.pax = kept;
      }
      const sink = pack.entry(h);
      await copyInto(entry as AsyncIterable<Buffer>, sink as unknown as WritableLike);
    }
    await feed;
    pack.finalize();
  })();
  pump.catch((e: unknown) => pack.destroy(e instanceof Error ? e : new Error(String(e))));
  feed.catch((e: unknown) => pack.destroy(e instanceof Error ? e : new Error(String(e))));
  return pack as unknown as AsyncIterable<Buffer>;
}
