import { spawn } from 'node:child_process';
import { PassThrough, Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Compression } from '../oci/index.js';
import { UnsupportedCompressionError } from './errors.js';

/**
 * zstd goes through the system `zstd` binary: Node 20's zlib has no zstd, the
 * pure-JS decoders are slow and decode-only, and native npm bindings need
 * prebuilt downloads. The binary is multi-threaded, fast and packaged everywhere
 * (`apt-get install zstd`).
 */
export const ZSTD_BIN = 'zstd';

export type DetectedFormat = Compression | 'bzip2' | 'xz';

/** Compression by magic bytes. Anything without a known magic is taken as a plain tar. */
export function sniffCompression(head: Buffer): DetectedFormat {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

async function* prefixed(head: Buffer[], it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  for (const h of head) yield h;
  for (;;) {
    const r = await it.next();
    if (r.done) return;
    yield r.value;
  }
}

export function zstdMissing(cause: unknown): UnsupportedCompressionError {
  const e = new UnsupportedCompressionError(`zstd layers need the "${ZSTD_BIN}" program, which is not installed`, 'install it (Debian/Ubuntu: apt-get install zstd) or use --compression gzip');
  (e as { cause?: unknown }).cause = cause;
  return e;
}

/** Runs `zstd` with `args`, feeding `input`; the returned stream errors if zstd fails. */
export function zstdStream(args: string[], input: AsyncIterable<Buffer> | Readable): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const child = spawn(ZSTD_BIN, [...args, '-q', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let failed = false;
  const fail = (e: Error): void => {
    if (failed) return;
    failed = true;
    child.kill('SIGKILL');
    out.destroy(e);
  };
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  child.on('error', (e) => fail((e as NodeJS.ErrnoException).code === 'ENOENT' ? zstdMissing(e) : e));
  child.stdout.pipe(out, { end: false });
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else fail(new Error(`zstd ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`));
  });
  const src = input instanceof Readable ? input : Readable.from(input);
  pipeline(src, child.stdin, (err) => {
    if (err && (err as NodeJS.ErrnoException).code !== 'EPIPE') fail(err);
  });
  out.on('close', () => {
    if (!failed && child.exitCode === null) child.kill('SIGKILL');
  });
  return out;
}

/**
 * Sniffs the compression of `input` and returns the uncompressed byte stream.
 * gzip (including multi-member gzip, as parallel compressors write it) via
 * zlib, zstd via the system binary, plain tar as is.
 */
export async function decompressed(input: Readable | AsyncIterable<Buffer>): Promise<{ format: DetectedFormat; stream: AsyncIterable<Buffer> }> {
  const it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let have = 0;
  while (have < 6) {
    const r = await it.next();
    if (r.done) break;
    const c = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    head.push(c);
    have += c.length;
  }
  const format = sniffCompression(Buffer.concat(head));
  const source = prefixed(head, it);
  switch (format) {
    case 'none':
      return { format, stream: source };
    case 'gzip': {
      const gunzip = createGunzip({ chunkSize: 1 << 16 });
      pipeline(Readable.from(source), gunzip, () => undefined);
      return { format, stream: gunzip };
    }
    case 'zstd':
      return { format, stream: zstdStream(['-d'], source) };
    default:
      throw new UnsupportedCompressionError(`${format} compressed layers are not part of the OCI image spec`, 'recompress the layer with gzip or zstd');
  }
}
