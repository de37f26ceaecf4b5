import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError, SizeMismatchError, SlipwayError } from './errors.js';
import type { Digest } from './types.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const HEX_LEN: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

export class InvalidDigestError extends SlipwayError {
  constructor(value: string, why: string) {
    super('INVALID_DIGEST', `invalid digest "${value}": ${why}`, {
      hint: 'a digest is sha256:<64 lowercase hex> (or sha512:<128 lowercase hex>)',
    });
  }
}

/** Parses and validates a digest string. Throws InvalidDigestError. */
export function parseDigest(value: string): ParsedDigest {
  const m = DIGEST_RE.exec(value);
  if (!m) throw new InvalidDigestError(value, 'not of the form algorithm:encoded');
  const alg = m[1] as string;
  const hex = m[2] as string;
  if (alg !== 'sha256' && alg !== 'sha512') throw new InvalidDigestError(value, `unsupported algorithm ${alg}`);
  if (hex.length !== HEX_LEN[alg] || !/^[a-f0-9]+$/.test(hex)) {
    throw new InvalidDigestError(value, `${alg} needs ${HEX_LEN[alg]} lowercase hex characters`);
  }
  return { algorithm: alg, hex };
}

export function isDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function digestOf(data: string | Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** sha256 "short id" as docker prints it (12 hex chars). */
export function shortId(digest: Digest): string {
  const i = digest.indexOf(':');
  return digest.slice(i + 1, i + 13);
}

/**
 * A pass-through stream that hashes what flows through it. `digest` and `size`
 * are valid after 'end'/'finish'.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash;
  private bytes = 0;
  private result: Digest | undefined;

  constructor(readonly algorithm: DigestAlgorithm = 'sha256') {
    super();
    this.hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.result = `${this.algorithm}:${this.hash.digest('hex')}`;
    cb();
  }

  get size(): number {
    return this.bytes;
  }

  get digest(): Digest {
    if (this.result === undefined) throw new Error('DigestStream: digest read before the stream ended');
    return this.result;
  }
}

/**
 * A pass-through stream that fails with DigestMismatchError / SizeMismatchError
 * at its end (before emitting 'end') when the bytes do not match `expected`.
 * Consumers that write to a temp file must only rename after this stream ends
 * without error.
 */
export class VerifyStream extends Transform {
  private readonly hash: Hash;
  private bytes = 0;
  private readonly parsed: ParsedDigest;

  constructor(readonly expected: Digest, readonly expectedSize: number | undefined, readonly where: string) {
    super();
    this.parsed = parseDigest(expected);
    this.hash = createHash(this.parsed.algorithm);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expectedSize !== undefined && this.bytes > this.expectedSize) {
      cb(new SizeMismatchError(this.expectedSize, this.bytes, this.where));
      return;
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.expectedSize !== undefined && this.bytes !== this.expectedSize) {
      cb(new SizeMismatchError(this.expectedSize, this.bytes, this.where));
      return;
    }
    const actual = `${this.parsed.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.expected) {
      cb(new DigestMismatchError(this.expected, actual, this.where));
      return;
    }
    cb();
  }
}

/** Verifies a buffer held in memory (manifests, configs). */
export function verifyBytes(data: Uint8Array, expected: Digest, expectedSize: number | undefined, where: string): void {
  const { algorithm } = parseDigest(expected);
  if (expectedSize !== undefined && data.length !== expectedSize) throw new SizeMismatchError(expectedSize, data.length, where);
  const actual = digestOf(data, algorithm);
  if (actual !== expected) throw new DigestMismatchError(expected, actual, where);
}

/** ChainID per image-spec config.md: ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : digestOf(`${prev} ${d}`));
  }
  return out;
}
