/**
 * Tar header encoding and decoding (POSIX ustar + PAX extended headers, GNU long
 * names on read). Own code rather than tar-stream's because layers need
 * binary-safe PAX values (xattrs such as security.capability are raw bytes),
 * exact limits on what a hostile header may claim, and no per-entry stream.
 */

export const BLOCK = 512;

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

const TYPEFLAG: Record<EntryType, string> = {
  file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6',
};

/** One tar member as slipway sees it (PAX and GNU extensions already folded in). */
export interface TarHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (may be fractional when read from PAX). */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes (PAX `SCHILY.xattr.*`), raw values. */
  xattrs: ReadonlyMap<string, Buffer>;
}

// ---------------------------------------------------------------- encoding

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function writeOctal(buf: Buffer, off: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  buf.write(digits, off, width - 1, 'ascii');
  buf[off + width - 1] = 0;
}

function writeString(buf: Buffer, off: number, width: number, value: string): void {
  if (value !== '') buf.write(value, off, width, 'utf8');
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + String(body.length).length;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'ascii'), body]);
}

function isAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** Splits a name into ustar prefix/name, or undefined when it does not fit. */
function splitUstarName(name: string): { prefix: string; name: string } | undefined {
  if (name.length <= 100) return { prefix: '', name };
  for (let i = name.indexOf('/'); i >= 0; i = name.indexOf('/', i + 1)) {
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
      return { prefix: name.slice(0, i), name: name.slice(i + 1) };
    }
  }
  return undefined;
}

function ustarBlock(h: {
  name: string; prefix: string; type: string; mode: number; uid: number; gid: number; size: number;
  mtime: number; linkname: string; devmajor: number; devminor: number;
}): Buffer {
  const b = Buffer.allocUnsafe(BLOCK).fill(0); // pooled allocation: one per entry
  writeString(b, 0, 100, h.name);
  writeOctal(b, 100, 8, h.mode & 0o7777);
  writeOctal(b, 108, 8, h.uid);
  writeOctal(b, 116, 8, h.gid);
  writeOctal(b, 124, 12, h.size);
  writeOctal(b, 136, 12, h.mtime);
  b.fill(0x20, 148, 156);
  b.write(h.type, 156, 1, 'ascii');
  writeString(b, 157, 100, h.linkname);
  b.write('ustar\u000000', 257, 8, 'latin1');
  writeOctal(b, 329, 8, h.devmajor);
  writeOctal(b, 337, 8, h.devminor);
  writeString(b, 345, 155, h.prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i] as number;
  b.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

/**
 * Encodes the header blocks of one member (a PAX header first when a field does
 * not fit ustar or there are xattrs). Output depends only on the input: no
 * user/group names, fixed PAX member name, sorted PAX keys.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const name = h.type === 'dir' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const pax = new Map<string, Buffer>();
  let split = isAscii(name) ? splitUstarName(name) : undefined;
  if (split === undefined) {
    pax.set('path', Buffer.from(name, 'utf8'));
    split = { prefix: '', name: asciiPrefix(name, 100) };
  }
  let linkname = h.linkname;
  if (Buffer.byteLength(linkname) > 100 || !isAscii(linkname)) {
    pax.set('linkpath', Buffer.from(linkname, 'utf8'));
    linkname = asciiPrefix(linkname, 100);
  }
  let size = h.size;
  if (size > MAX_OCTAL_11) {
    pax.set('size', Buffer.from(String(size)));
    size = 0;
  }
  let { uid, gid } = h;
  if (uid > MAX_OCTAL_7) { pax.set('uid', Buffer.from(String(uid))); uid = 0; }
  if (gid > MAX_OCTAL_7) { pax.set('gid', Buffer.from(String(gid))); gid = 0; }
  let mtime = Math.floor(h.mtime);
  if (mtime < 0 || mtime > MAX_OCTAL_11) { pax.set('mtime', Buffer.from(String(mtime))); mtime = 0; }
  for (const [k, v] of h.xattrs) pax.set(`SCHILY.xattr.${k}`, v);

  const main = ustarBlock({
    name: split.name, prefix: split.prefix, type: TYPEFLAG[h.type], mode: h.mode, uid, gid,
    size: h.type === 'file' ? size : 0, mtime, linkname, devmajor: h.devmajor, devminor: h.devminor,
  });
  if (pax.size === 0) return main;
  const keys = [...pax.keys()].sort();
  const body = Buffer.concat(keys.map((k) => paxRecord(k, pax.get(k) as Buffer)));
  const paxHead = ustarBlock({
    name: '././@PaxHeader', prefix: '', type: 'x', mode: 0o644, uid: 0, gid: 0, size: body.length,
    mtime: 0, linkname: '', devmajor: 0, devminor: 0,
  });
  return Buffer.concat([paxHead, body, Buffer.alloc(padding(body.length)), main]);
}

function asciiPrefix(s: string, max: number): string {
  return s.replace(/[^\x20-\x7e]/g, '_').slice(0, max);
}

/** Zero bytes needed after `size` bytes of content to reach a block boundary. */
export function padding(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(BLOCK * 2);

// ---------------------------------------------------------------- decoding

/** Raw header block fields, before PAX/GNU extensions are applied. */
export interface RawHeader {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

export class HeaderFormatError extends Error {}

function readString(b: Buffer, off: number, width: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + width ? off + width : end);
}

function readNumber(b: Buffer, off: number, width: number, field: string): number {
  const first = b[off] as number;
  if (first === 0x80 || first === 0xff) {
    if (first === 0xff) throw new HeaderFormatError(`negative ${field}`);
    let n = 0;
    for (let i = off + 1; i < off + width; i++) n = n * 256 + (b[i] as number);
    if (!Number.isSafeInteger(n)) throw new HeaderFormatError(`${field} too large`);
    return n;
  }
  const s = b.toString('latin1', off, off + width).replace(/[\0 ]+$/g, '').replace(/^ +/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new HeaderFormatError(`${field} is not an octal number`);
  return parseInt(s, 8);
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decodes one 512-byte header block; throws HeaderFormatError on a bad checksum or field. */
export function decodeHeaderBlock(b: Buffer): RawHeader {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : (b[i] as number);
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  const stored = readNumber(b, 148, 8, 'checksum');
  if (stored !== unsigned && stored !== signed) throw new HeaderFormatError('header checksum mismatch');
  const magic = b.toString('latin1', 257, 263);
  let name = readString(b, 0, 100);
  if (magic === 'ustar\0') {
    const prefix = readString(b, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const tf = b[156] === 0 ? '0' : String.fromCharCode(b[156] as number);
  return {
    name,
    typeflag: tf,
    mode: readNumber(b, 100, 8, 'mode'),
    uid: readNumber(b, 108, 8, 'uid'),
    gid: readNumber(b, 116, 8, 'gid'),
    size: readNumber(b, 124, 12, 'size'),
    mtime: readNumber(b, 136, 12, 'mtime'),
    linkname: readString(b, 157, 100),
    devmajor: tf === '3' || tf === '4' ? readNumber(b, 329, 8, 'devmajor') : 0,
    devminor: tf === '3' || tf === '4' ? readNumber(b, 337, 8, 'devminor') : 0,
  };
}

/** Parses PAX records ("LEN key=value\n"), binary-safe values. */
export function decodePax(body: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < body.length) {
    if (body[off] === 0) break;
    const sp = body.indexOf(0x20, off);
    if (sp < 0) throw new HeaderFormatError('malformed PAX record');
    const len = Number(body.toString('latin1', off, sp));
    if (!Number.isInteger(len) || len <= sp - off + 1 || off + len > body.length) throw new HeaderFormatError('malformed PAX record length');
    const rec = body.subarray(sp + 1, off + len);
    if (rec[rec.length - 1] !== 0x0a) throw new HeaderFormatError('PAX record not newline-terminated');
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new HeaderFormatError('PAX record without "="');
    out.set(rec.toString('utf8', 0, eq), Buffer.from(rec.subarray(eq + 1, rec.length - 1)));
    off += len;
  }
  return out;
}

export function typeFromFlag(flag: string): EntryType | 'pax' | 'pax-global' | 'gnu-longname' | 'gnu-longlink' | undefined {
  switch (flag) {
    case '0': case '7': return 'file';
    case '1': return 'hardlink';
    case '2': return 'symlink';
    case '3': return 'char';
    case '4': return 'block';
    case '5': return 'dir';
    case '6': return 'fifo';
    case 'x': return 'pax';
    case 'g': return 'pax-global';
    case 'L': return 'gnu-longname';
    case 'K': return 'gnu-longlink';
    default: return undefined;
  }
}
