import { gzipSync } from 'node:zlib';

/**
 * Tar archives written as data, for tests: an array of headers in, a tar Buffer
 * out. Deliberately independent of src/snapshot's encoder and deliberately
 * permissive: it writes whatever it is told (absolute names, `..`, absurd sizes,
 * bad checksums), which is the point of a hostile corpus.
 */
export interface FixtureEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
  /** Raw typeflag character, overriding `type` (e.g. 'S' for sparse). */
  typeflag?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch. Default 1_600_000_000. */
  mtime?: number;
  linkname?: string;
  content?: string | Buffer;
  /** Header size field, overriding the content length (content is still written as given). */
  size?: number;
  devmajor?: number;
  devminor?: number;
  /** PAX records written in an `x` header before this entry. */
  pax?: Record<string, string | Buffer>;
  /** Corrupt the header checksum. */
  badChecksum?: boolean;
}

const FLAGS = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;

function octal(b: Buffer, off: number, width: number, n: number): void {
  if (n > 8 ** (width - 1) - 1) {
    // base-256, as GNU tar writes numbers that do not fit
    b[off] = 0x80;
    let v = n;
    for (let i = off + width - 1; i > off; i--) {
      b[i] = v % 256;
      v = Math.floor(v / 256);
    }
    return;
  }
  b.write(n.toString(8).padStart(width - 1, '0'), off, 'ascii');
}

function header(e: { name: string; flag: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string; devmajor: number; devminor: number; bad?: boolean }): Buffer {
  const b = Buffer.alloc(512);
  b.write(e.name.slice(0, 100), 0, 'utf8');
  octal(b, 100, 8, e.mode);
  octal(b, 108, 8, e.uid);
  octal(b, 116, 8, e.gid);
  octal(b, 124, 12, e.size);
  octal(b, 136, 12, e.mtime);
  b.fill(0x20, 148, 156);
  b.write(e.flag, 156, 'ascii');
  b.write(e.linkname.slice(0, 100), 157, 'utf8');
  b.write('ustar\u000000', 257, 'latin1');
  octal(b, 329, 8, e.devmajor);
  octal(b, 337, 8, e.devminor);
  let sum = 0;
  for (const x of b) sum += x;
  if (e.bad) sum += 1;
  b.write(sum.toString(8).padStart(6, '0') + '\u0000 ', 148, 'latin1');
  return b;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

function paxBody(rec: Record<string, string | Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(rec)) {
    const val = Buffer.isBuffer(v) ? v : Buffer.from(v, 'utf8');
    const rest = Buffer.concat([Buffer.from(` ${k}=`), val, Buffer.from('\n')]);
    let len = rest.length + String(rest.length).length;
    if (String(len).length + rest.length !== len) len = String(len).length + rest.length;
    parts.push(Buffer.from(String(len)), rest);
  }
  return Buffer.concat(parts);
}

export interface FixtureOptions {
  gzip?: boolean;
  /** Leave out the two zero blocks at the end. */
  noEnd?: boolean;
  /** Cut the archive (before compression) to this many bytes. */
  truncate?: number;
}

export function tarFixture(entries: readonly FixtureEntry[], opts: FixtureOptions = {}): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith('/') ? 'dir' : 'file');
    const content = e.content === undefined ? Buffer.alloc(0) : Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content);
    if (e.pax) {
      const body = paxBody(e.pax);
      out.push(header({ name: 'PaxHeader', flag: 'x', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, linkname: '', devmajor: 0, devminor: 0 }), body, pad(body.length));
    }
    out.push(header({
      name: e.name,
      flag: e.typeflag ?? FLAGS[type],
      mode: e.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: e.size ?? (type === 'file' ? content.length : 0),
      mtime: e.mtime ?? 1_600_000_000,
      linkname: e.linkname ?? '',
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
      bad: e.badChecksum,
    }));
    if (content.length > 0) out.push(content, pad(content.length));
  }
  if (!opts.noEnd) out.push(Buffer.alloc(1024));
  let tar = Buffer.concat(out);
  if (opts.truncate !== undefined) tar = tar.subarray(0, opts.truncate);
  return opts.gzip ? gzipSync(tar) : tar;
}
