import {
  BLOCK, type EntryType, HeaderFormatError, type TarHeader,
  decodeHeaderBlock, decodePax, isZeroBlock, padding, typeFromFlag,
} from './tar-format.js';

/** Bounds a hostile archive cannot push past. */
export interface TarLimits {
  /** Largest single file (bytes). */
  maxEntrySize: number;
  /** Largest PAX or GNU long-name record (bytes): these are held in memory. */
  maxHeaderSize: number;
  /** Longest path or link name (bytes). */
  maxNameLength: number;
  /** Most members in one archive. */
  maxEntries: number;
}

export const DEFAULT_TAR_LIMITS: TarLimits = {
  maxEntrySize: 2 ** 40,
  maxHeaderSize: 1 << 20,
  maxNameLength: 4096,
  maxEntries: 10_000_000,
};

/** The archive is malformed or truncated. */
export class TarFormatError extends Error {}
/** The archive asks for more than the limits allow. */
export class TarLimitError extends Error {
  constructor(readonly entry: string, message: string) {
    super(message);
  }
}

export interface TarEntry extends TarHeader {
  /** Content of a regular file; drained automatically when the caller moves on. */
  body: AsyncIterable<Buffer>;
}

/** Pulls exact byte counts out of an async chunk source without copying more than needed. */
class ByteSource {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private eof = false;
  private readonly it: AsyncIterator<Buffer>;

  constructor(src: AsyncIterable<Buffer>) {
    this.it = src[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.eof) return false;
    const r = await this.it.next();
    if (r.done) {
      this.eof = true;
      return false;
    }
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    if (c.length > 0) {
      this.chunks.push(c);
      this.buffered += c.length;
    }
    return true;
  }

  /** Exactly n bytes, or undefined at a clean EOF; throws when EOF comes mid-way. */
  async read(n: number): Promise<Buffer | undefined> {
    while (this.buffered < n) {
      if (!(await this.pull())) {
        if (this.buffered === 0) return undefined;
        throw new TarFormatError(`unexpected end of archive (needed ${n} bytes, ${this.buffered} left)`);
      }
    }
    return this.take(n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** Up to `max` bytes as they arrive (at least one); throws at EOF. */
  async some(max: number): Promise<Buffer> {
    if (this.buffered === 0 && !(await this.pull())) throw new TarFormatError('unexpected end of archive inside a file');
    while (this.buffered === 0) {
      if (!(await this.pull())) throw new TarFormatError('unexpected end of archive inside a file');
    }
    const first = this.chunks[0] as Buffer;
    return this.take(Math.min(max, first.length));
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.some(left)).length;
  }

  /** Drains whatever follows (so a decompressor sees its whole input and reports errors). */
  async drain(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    while (await this.pull()) {
      this.chunks = [];
      this.buffered = 0;
    }
  }
}

function num(v: Buffer | undefined, field: string): number | undefined {
  if (v === undefined) return undefined;
  const s = v.toString('latin1');
  if (!/^-?\d+(\.\d+)?$/.test(s)) throw new TarFormatError(`PAX ${field} is not a number`);
  return Number(s);
}

/**
 * Reads tar members one at a time. Each yielded entry's `body` must be consumed
 * before asking for the next entry, or it is skipped. PAX (`x`, `g`) and GNU
 * long names (`L`, `K`) are folded into the following member.
 */
export async function* readTar(src: AsyncIterable<Buffer>, limits: TarLimits = DEFAULT_TAR_LIMITS): AsyncGenerator<TarEntry> {
  const bytes = new ByteSource(src);
  let global = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let count = 0;

  for (;;) {
    const block = await bytes.read(BLOCK);
    if (block === undefined) return; // clean EOF at a member boundary
    if (isZeroBlock(block)) {
      await bytes.drain();
      return;
    }
    let raw;
    try {
      raw = decodeHeaderBlock(block);
    } catch (e) {
      throw new TarFormatError(`bad tar header after ${count} entries: ${(e as Error).message}`);
    }
    const kind = typeFromFlag(raw.typeflag);
    if (kind === 'pax' || kind === 'pax-global' || kind === 'gnu-longname' || kind === 'gnu-longlink') {
      if (raw.size > limits.maxHeaderSize) {
        throw new TarLimitError(raw.name, `extended header of ${raw.size} bytes exceeds the limit of ${limits.maxHeaderSize}`);
      }
      const body = (await bytes.read(raw.size)) ?? Buffer.alloc(0);
      if (body.length !== raw.size) throw new TarFormatError('unexpected end of archive in an extended header');
      await bytes.skip(padding(raw.size));
      try {
        if (kind === 'pax') pax = new Map([...(pax ?? []), ...decodePax(body)]);
        else if (kind === 'pax-global') global = new Map([...global, ...decodePax(body)]);
        else {
          const end = body.indexOf(0);
          const s = body.toString('utf8', 0, end < 0 ? body.length : end);
          if (kind === 'gnu-longname') longName = s;
          else longLink = s;
        }
      } catch (e) {
        if (e instanceof HeaderFormatError) throw new TarFormatError(e.message);
        throw e;
      }
      continue;
    }
    if (kind === undefined) {
      throw new TarFormatError(`unsupported tar member type "${raw.typeflag}" for ${JSON.stringify(raw.name)} (sparse and vendor types are not allowed in layers)`);
    }
    count += 1;
    if (count > limits.maxEntries) throw new TarLimitError(raw.name, `more than ${limits.maxEntries} entries`);

    const ext = new Map([...global, ...(pax ?? [])]);
    pax = undefined;
    let name = longName ?? raw.name;
    let linkname = longLink ?? raw.linkname;
    longName = undefined;
    longLink = undefined;
    const p = ext.get('path');
    if (p !== undefined) name = p.toString('utf8');
    const lp = ext.get('linkpath');
    if (lp !== undefined) linkname = lp.toString('utf8');
    const size = num(ext.get('size'), 'size') ?? raw.size;
    if (name.includes('\0') || linkname.includes('\0')) throw new TarLimitError(name, 'name contains a NUL byte');
    if (Buffer.byteLength(name) > limits.maxNameLength || Buffer.byteLength(linkname) > limits.maxNameLength) {
      throw new TarLimitError(name.slice(0, 200), `name longer than ${limits.maxNameLength} bytes`);
    }
    if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError(`invalid size for ${JSON.stringify(name)}`);
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of ext) {
      if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    }
    const type = kind as EntryType;
    // Only regular files carry data; for every other type the size field is ignored (as Go's archive/tar does).
    if (type === 'file' && size > limits.maxEntrySize) {
      throw new TarLimitError(name, `claims ${size} bytes, more than the limit of ${limits.maxEntrySize}`);
    }
    let left = type === 'file' ? size : 0;
    const body: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: async function* () {
        while (left > 0) {
          const c = await bytes.some(Math.min(left, 1 << 20));
          left -= c.length;
          yield c;
        }
      },
    };
    yield {
      name, type, linkname, size: type === 'file' ? size : 0,
      mode: raw.mode,
      uid: num(ext.get('uid'), 'uid') ?? raw.uid,
      gid: num(ext.get('gid'), 'gid') ?? raw.gid,
      mtime: num(ext.get('mtime'), 'mtime') ?? raw.mtime,
      devmajor: raw.devmajor, devminor: raw.devminor, xattrs, body,
    };
    if (left > 0) await bytes.skip(left);
    if (type === 'file') await bytes.skip(padding(size));
  }
}
