import { Readable } from 'node:stream';
import { SizeMismatchError, verifyBytes, type Descriptor } from '../../oci/index.js';
import { headerValue, type RegistryClient, type RegistryResponse } from './client.js';
import { RegistryError, RegistryProtocolError, RegistryUnauthorizedError, RegistryUploadInterruptedError } from './errors.js';

export interface UploadTarget {
  client: RegistryClient;
  repository: string;
  /** Scopes for this repository with push access. */
  scopes: readonly string[];
}

export interface UploadLimits {
  /** Blobs up to this size go in one PUT (default 16 MiB). */
  monolithicMax: number;
  /** PATCH chunk size for larger blobs (default 64 MiB). */
  chunkSize: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { monolithicMax: 16 << 20, chunkSize: 64 << 20 };

function op(desc: Descriptor): string {
  return `uploading blob ${desc.digest}`;
}

/** Resolves an upload Location (possibly relative) and adds a query parameter. */
function withParam(location: string, base: string, key: string, value: string): string {
  const u = new URL(location, base);
  u.searchParams.append(key, value);
  return u.toString();
}

async function location(t: UploadTarget, res: RegistryResponse, desc: Descriptor): Promise<string> {
  const loc = headerValue(res, 'location');
  await res.body.dump();
  if (!loc) throw new RegistryProtocolError({ registry: t.client.registry, repository: t.repository, operation: op(desc) }, `HTTP ${res.status} without a Location header`);
  return new URL(loc, res.url).toString();
}

/**
 * Starts an upload session. With `mountFrom`, asks for a cross-repository mount first:
 * returns `{mounted: true}` on 201, else the upload location the registry opened instead.
 */
export async function startUpload(t: UploadTarget, desc: Descriptor, mountFrom?: string): Promise<{ mounted: true } | { mounted: false; location: string }> {
  const query = mountFrom ? `?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(mountFrom)}` : '';
  const res = await t.client.request({
    method: 'POST',
    path: `/v2/${t.repository}/blobs/uploads/${query}`,
    headers: { 'content-length': '0' },
    scopes: mountFrom ? [...t.scopes, `repository:${mountFrom}:pull`] : t.scopes,
    repository: t.repository,
    operation: mountFrom ? `mounting blob ${desc.digest} from ${mountFrom}` : op(desc),
  });
  if (res.status === 201 && mountFrom) {
    await res.body.dump();
    return { mounted: true };
  }
  return { mounted: false, location: await location(t, res, desc) };
}

/** Whole body in memory (small blobs only, bounded by `max`). */
export async function readAll(body: Readable | Uint8Array, max: number, where: string): Promise<Buffer> {
  if (!(body instanceof Readable)) return Buffer.from(body);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
    n += b.length;
    if (n > max) {
      body.destroy();
      throw new SizeMismatchError(max, n, where);
    }
    parts.push(b);
  }
  return Buffer.concat(parts, n);
}

/** Monolithic upload: the verified bytes in one PUT to the session location. */
export async function putMonolithic(t: UploadTarget, desc: Descriptor, loc: string, data: Buffer): Promise<void> {
  verifyBytes(data, desc.digest, desc.size, `blob ${desc.digest} pushed to ${t.client.registry}/${t.repository}`);
  const res = await t.client.request({
    method: 'PUT',
    path: withParam(loc, loc, 'digest', desc.digest),
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
    scopes: t.scopes,
    repository: t.repository,
    operation: op(desc),
  });
  await res.body.dump();
}

/** Hands out a stream's bytes in pieces of exact length, without copying them. */
class ByteTaker {
  private readonly it: AsyncIterator<unknown>;
  private rest: Buffer | undefined;

  constructor(private readonly src: Readable, private readonly where: string, private readonly expected: number) {
    this.it = src[Symbol.asyncIterator]();
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.rest) {
      const r = this.rest;
      this.rest = undefined;
      return r;
    }
    const r = await this.it.next();
    if (r.done) return undefined;
    return Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
  }

  /** Exactly `n` bytes (SizeMismatchError when the source ends before). */
  async *take(n: number, offset: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      let b = await this.next();
      if (b === undefined) throw new SizeMismatchError(this.expected, offset + n - left, this.where);
      if (b.length > left) {
        this.rest = b.subarray(left);
        b = b.subarray(0, left);
      }
      left -= b.length;
      if (b.length > 0) yield b;
    }
  }

  /** Bytes the source still has beyond what was taken (0 when it ends, as it should). */
  async extra(): Promise<number> {
    let n = 0;
    for (let b = await this.next(); b !== undefined; b = await this.next()) n += b.length;
    return n;
  }

  destroy(): void {
    this.src.destroy();
  }
}

/**
 * Chunked upload: PATCH chunks of `chunkSize` with an inclusive Content-Range, each streamed
 * from the source (nothing buffered), following the Location the registry returns, then
 * PUT ?digest= where the registry verifies the digest. The source stream verifies its own
 * bytes as it is read; a failure ends the upload. A broken PATCH cannot be replayed without
 * the bytes (and distribution cannot resume a session after one), so it ends the upload with
 * RegistryUploadInterruptedError: the caller pushes again (blobs already there are skipped).
 */
export async function putChunked(t: UploadTarget, desc: Descriptor, loc: string, body: Readable, chunkSize: number): Promise<void> {
  const where = `blob ${desc.digest} pushed to ${t.client.registry}/${t.repository}`;
  const ctx = { registry: t.client.registry, repository: t.repository, operation: op(desc) };
  const src = new ByteTaker(body, where, desc.size);
  let offset = 0;
  let current = loc;
  try {
    while (offset < desc.size) {
      const n = Math.min(chunkSize, desc.size - offset);
      let res: RegistryResponse;
      try {
        res = await t.client.request({
          method: 'PATCH',
          path: current,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${offset}-${offset + n - 1}`,
            'content-length': String(n),
          },
          stream: Readable.from(src.take(n, offset), { objectMode: false }),
          scopes: t.scopes,
          repository: t.repository,
          operation: op(desc),
        });
      } catch (e) {
        if (e instanceof RegistryError && !(e instanceof RegistryUnauthorizedError)) {
          throw new RegistryUploadInterruptedError(ctx, offset, e);
        }
        throw e;
      }
      current = await location(t, res, desc);
      offset += n;
    }
    const extra = await src.extra();
    if (extra > 0) throw new SizeMismatchError(desc.size, desc.size + extra, where);
  } catch (e) {
    src.destroy();
    await t.client.request({ method: 'DELETE', path: current, scopes: t.scopes, repository: t.repository, operation: op(desc), accept: [400, 404, 405] })
      .then((r) => r.body.dump()).catch(() => {});
    throw e;
  }
  const res = await t.client.request({
    method: 'PUT',
    path: withParam(current, current, 'digest', desc.digest),
    headers: { 'content-length': '0' },
    scopes: t.scopes,
    repository: t.repository,
    operation: op(desc),
  });
  await res.body.dump();
}
