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

/**
 * Octal field: width-1 digits, then NUL. Digits are written byte by byte (no
 * string per field: this runs ~7 times per entry). Values that do not fit keep
 * their leading digits, as the string form always did (callers move such values
 * to PAX first).
 */
function writeOctal(buf: Buffer, off: number, width: number, value: number): void {
  const n = width - 1;
  if (Number.isInteger(value) && value >= 0 && value < 8 ** n) {
    let v = value;
    for (let i = off + n - 1; i >= off; i--) {
      buf[i] = 0x30 + (v % 8);
      v = Math.floor(v / 8);
    }
  } else {
    buf.write(value.toString(8).padStart(n, '0'), off, n, 'ascii');
  }
  buf[off + n] = 0;
}

/** Header string fields are printable ASCII here (anything else went to PAX), so one byte per char. */
function writeString(buf: Buffer, off: number, width: number, value: string): void {
  const n = Math.min(width, value.length);
  for (let i = 0; i < n; i++) buf[off + i] = value.charCodeAt(i);
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

/** Zeros, the checksum field as spaces (how the sum is taken), the ustar magic and version. */
const USTAR_TEMPLATE = (() => {
  const b = Buffer.alloc(BLOCK);
  b.fill(0x20, 148, 156);
  b.write('ustar\u000000', 257, 8, 'latin1');
  return b;
})();

function ustarBlock(h: {
  name: string; prefix: string; type: string; mode: number; uid: number; gid: number; size: number;
  mtime: number; linkname: string; devmajor: number; devminor: number;
}): Buffer {
  const b = Buffer.allocUnsafe(BLOCK); // pooled allocation: one per entry
  USTAR_TEMPLATE.copy(b);
  writeString(b, 0, 100, h.name);
  writeOctal(b, 100, 8, h.mode & 0o7777);
  writeOctal(b, 108, 8, h.uid);
  writeOctal(b, 116, 8, h.gid);
  writeOctal(b, 124, 12, h.size);
  writeOctal(b, 136, 12, h.mtime);
  b[156] = h.type.charCodeAt(0);
  writeString(b, 157, 100, h.linkname);
  writeOctal(b, 329, 8, h.devmajor);
  writeOctal(b, 337, 8, h.devminor);
  writeString(b, 345, 155, h.prefix);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i] as number;
  writeOctal(b, 148, 7, sum); // six digits and NUL, then the space the template holds
  return b;
}

/**
 * Encodes the header blocks of one member (a PAX header first when a field does
 * not fit ustar or there are xattrs). Output depends only on the input: no
 * user/group names, fixed PAX member name, sorted PAX keys.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const name = h.type === 'dir' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  let pax: Map<string, Buffer> | undefined; // most entries need none: no Map for them
  const setPax = (k: string, v: Buffer): void => void (pax ??= new Map()).set(k, v);
  let split = isAscii(name) ? splitUstarName(name) : undefined;
  if (split === undefined) {
    setPax('path', Buffer.from(name, 'utf8'));
    split = { prefix: '', name: asciiPrefix(name, 100) };
  }
  let linkname = h.linkname;
  if (linkname !== '' && (Buffer.byteLength(linkname) > 100 || !isAscii(linkname))) {
    setPax('linkpath', Buffer.from(linkname, 'utf8'));
    linkname = asciiPrefix(linkname, 100);
  }
  let size = h.size;
  if (size > MAX_OCTAL_11) {
    setPax('size', Buffer.from(String(size)));
    size = 0;
  }
  let { uid, gid } = h;
  if (uid > MAX_OCTAL_7) { setPax('uid', Buffer.from(String(uid))); uid = 0; }
  if (gid > MAX_OCTAL_7) { setPax('gid', Buffer.from(String(gid))); gid = 0; }
  let mtime = Math.floor(h.mtime);
  if (mtime < 0 || mtime > MAX_OCTAL_11) { setPax('mtime', Buffer.from(String(mtime))); mtime = 0; }
  for (const [k, v] of h.xattrs) setPax(`SCHILY.xattr.${k}`, v);

  const main = ustarBlock({
    name: split.name, prefix: split.prefix, type: TYPEFLAG[h.type], mode: h.mode, uid, gid,
    size: h.type === 'file' ? size : 0, mtime, linkname, devmajor: h.devmajor, devminor: h.devminor,
  });
  if (pax === undefined) return main;
  const fields = pax;
  const keys = [...fields.keys()].sort();
  const body = Buffer.concat(keys.map((k) => paxRecord(k, fields.get(k) as Buffer)));
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
