import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DigestMismatchError, SizeMismatchError, parseDigest, verifyBytes, type Descriptor } from '../../oci/index.js';
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
  /** PATCH chunk size for larger blobs (default 32 MiB). */
  chunkSize: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { monolithicMax: 16 << 20, chunkSize: 32 << 20 };

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

/** Yields `size`-byte buffers (the last may be shorter) from a stream. */
async function* chunks(body: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    let b = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
    while (n + b.length >= size) {
      const take = size - n;
      parts.push(b.subarray(0, take));
      yield Buffer.concat(parts, size);
      parts = [];
      n = 0;
      b = b.subarray(take);
    }
    if (b.length > 0) {
      parts.push(b);
      n += b.length;
    }
  }
  if (n > 0) yield Buffer.concat(parts, n);
}

/** Offset the registry holds for an upload session (GET location -> Range: 0-N). */
async function uploadedUpTo(t: UploadTarget, desc: Descriptor, loc: string): Promise<number> {
  const res = await t.client.request({ method: 'GET', path: loc, scopes: t.scopes, repository: t.repository, operation: op(desc), accept: [204] });
  await res.body.dump();
  const m = /^(?:bytes=)?0-(\d+)$/.exec(headerValue(res, 'range') ?? '');
  return m ? Number(m[1]) + 1 : 0;
}

/**
 * Chunked upload: PATCH each chunk with an inclusive Content-Range, following the Location the
 * registry returns; a chunk whose PATCH fails is resent (after asking the registry how much it
 * kept when it answers 416). Hashes as it goes and only commits (PUT ?digest=) when the bytes match.
 */
export async function putChunked(t: UploadTarget, desc: Descriptor, loc: string, body: Readable, chunkSize: number): Promise<void> {
  const { algorithm } = parseDigest(desc.digest);
  const hash = createHash(algorithm);
  const where = `blob ${desc.digest} pushed to ${t.client.registry}/${t.repository}`;
  let offset = 0;
  let current = loc;
  for await (const chunk of chunks(body, chunkSize)) {
    hash.update(chunk);
    if (offset + chunk.length > desc.size) {
      body.destroy();
      throw new SizeMismatchError(desc.size, offset + chunk.length, where);
    }
    let start = 0;
    for (let tries = 0; start < chunk.length; tries++) {
      const piece = start === 0 ? chunk : chunk.subarray(start);
      let res: RegistryResponse;
      try {
        res = await t.client.request({
          method: 'PATCH',
          path: current,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${offset + start}-${offset + chunk.length - 1}`,
          },
          body: piece,
          scopes: t.scopes,
          repository: t.repository,
          operation: op(desc),
          accept: [416],
        });
      } catch (e) {
        // a PATCH that broke mid-way: resume where the registry says it is, if it can tell
        if (!(e instanceof RegistryError) || e instanceof RegistryUnauthorizedError) throw e;
        const have = await uploadedUpTo(t, desc, current).catch(() => -1);
        if (have < offset || have > offset + chunk.length || tries >= 3) {
          body.destroy();
          throw new RegistryUploadInterruptedError({ registry: t.client.registry, repository: t.repository, operation: op(desc) }, offset + start, e);
        }
        start = have - offset;
        continue;
      }
      if (res.status === 416 && tries < 3) {
        // the registry kept part of an earlier attempt: continue from where it is
        await res.body.dump();
        const have = await uploadedUpTo(t, desc, current);
        if (have < offset || have > offset + chunk.length) {
          throw new RegistryProtocolError({ registry: t.client.registry, repository: t.repository, operation: op(desc) }, `upload offset ${have} does not match the ${offset} bytes sent`);
        }
        start = have - offset;
        continue;
      }
      if (res.status === 416) throw new RegistryProtocolError({ registry: t.client.registry, repository: t.repository, operation: op(desc) }, 'the registry keeps refusing the chunk range (416)');
      current = await location(t, res, desc);
      start = chunk.length;
    }
    offset += chunk.length;
  }
  if (offset !== desc.size) throw new SizeMismatchError(desc.size, offset, where);
  const actual = `${algorithm}:${hash.digest('hex')}`;
  if (actual !== desc.digest) {
    await t.client.request({ method: 'DELETE', path: current, scopes: t.scopes, repository: t.repository, operation: op(desc), accept: [404, 405] })
      .then((r) => r.body.dump()).catch(() => {});
    throw new DigestMismatchError(desc.digest, actual, where);
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
