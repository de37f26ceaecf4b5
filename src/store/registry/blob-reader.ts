import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DigestMismatchError, SizeMismatchError, parseDigest, type Descriptor } from '../../oci/index.js';
import { headerValue, type RegistryClient, type RegistryResponse } from './client.js';
import { RegistryProtocolError, RegistryUnreachableError, type RegistryErrorContext } from './errors.js';
import { backoffDelay, networkErrorCode, sleep, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';

export interface BlobReadTarget {
  client: RegistryClient;
  repository: string;
  scopes: readonly string[];
  retry?: RetryPolicy;
}

async function getFrom(t: BlobReadTarget, desc: Descriptor, offset: number): Promise<RegistryResponse> {
  const res = await t.client.request({
    method: 'GET',
    path: `/v2/${t.repository}/blobs/${desc.digest}`,
    headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    scopes: t.scopes,
    repository: t.repository,
    operation: `fetching blob ${desc.digest}`,
    followRedirects: true,
  });
  if (res.status === 206) {
    const m = /^bytes (\d+)-/.exec(headerValue(res, 'content-range') ?? '');
    if (!m || Number(m[1]) !== offset) {
      await res.body.dump();
      throw new RegistryProtocolError(
        { registry: t.client.registry, repository: t.repository, operation: `fetching blob ${desc.digest}` },
        `asked for bytes from ${offset}, got Content-Range "${headerValue(res, 'content-range') ?? ''}"`,
      );
    }
  }
  return res;
}

/**
 * Streams a blob, verified against its digest and size. When the connection breaks mid-blob
 * the read resumes with a Range request (or restarts and skips what was already delivered if the
 * registry ignores Range), with backoff, up to the retry policy's attempts. The stream errors
 * with DigestMismatchError/SizeMismatchError at its end when the bytes are wrong, so a consumer
 * writing to a temp file never keeps a bad blob.
 */
export async function openBlob(t: BlobReadTarget, desc: Descriptor): Promise<Readable> {
  const policy = t.retry ?? DEFAULT_RETRY_POLICY;
  const { algorithm } = parseDigest(desc.digest);
  const where = `blob ${desc.digest} from ${t.client.registry}/${t.repository}`;
  const ctx: RegistryErrorContext = { registry: t.client.registry, repository: t.repository, operation: `fetching blob ${desc.digest}` };
  const first = await getFrom(t, desc, 0);
  t.client.emit({ type: 'blob-fetch', registry: t.client.registry, repository: t.repository, digest: desc.digest, size: desc.size });

  // A plain Readable fed from the response body's 'data' events (pausing it for backpressure):
  // one hop per chunk instead of an async iterator plus an async generator.
  const hash = createHash(algorithm);
  let received = 0;
  let failures = 0;
  let current: RegistryResponse = first;
  let skip = 0;
  /** Bumped whenever a response is dropped, so its late events are ignored. */
  let generation = 0;
  const out = new Readable({
    highWaterMark: 1 << 20,
    read() {
      current.body.resume();
    },
    destroy(err, cb) {
      generation++;
      current.body.destroy();
      cb(err);
    },
  });

  const finish = (): void => {
    generation++;
    const actual = `${algorithm}:${hash.digest('hex')}`;
    if (received !== desc.size) out.destroy(new SizeMismatchError(desc.size, received, where));
    else if (actual !== desc.digest) out.destroy(new DigestMismatchError(desc.digest, actual, where));
    else out.push(null);
  };

  const broke = async (e: unknown): Promise<void> => {
    generation++;
    if (out.destroyed) return;
    if (e instanceof SizeMismatchError) {
      out.destroy(e);
      return;
    }
    failures++;
    if (failures >= policy.attempts) {
      out.destroy(new RegistryUnreachableError(ctx, e, `connection broke after ${received} of ${desc.size} bytes, ${failures} times`));
      return;
    }
    const delayMs = backoffDelay(policy, failures);
    t.client.emit({ type: 'retry', registry: t.client.registry, operation: ctx.operation, attempt: failures, delayMs, reason: networkErrorCode(e) ?? 'stream broke' });
    await sleep(delayMs);
    current.body.destroy();
    if (out.destroyed) return;
    try {
      const res = await getFrom(t, desc, received);
      if (out.destroyed) {
        res.body.destroy();
        return;
      }
      t.client.emit({ type: 'blob-fetch', registry: t.client.registry, repository: t.repository, digest: desc.digest, size: desc.size, resumedAt: received });
      attach(res);
    } catch (err) {
      out.destroy(err as Error);
    }
  };

  const attach = (res: RegistryResponse): void => {
    current = res;
    skip = res.status === 206 ? 0 : received;
    const gen = ++generation;
    const body = res.body;
    body.on('data', (chunk: Buffer) => {
      if (gen !== generation) return;
      let c = chunk;
      if (skip > 0) {
        if (c.length <= skip) {
          skip -= c.length;
          return;
        }
        c = c.subarray(skip);
        skip = 0;
      }
      received += c.length;
      if (received > desc.size) {
        void broke(new SizeMismatchError(desc.size, received, where));
        return;
      }
      hash.update(c);
      if (!out.push(c)) body.pause();
    });
    body.once('end', () => {
      if (gen !== generation) return;
      if (received < desc.size) void broke(Object.assign(new Error(`body ended after ${received} of ${desc.size} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      else finish();
    });
    body.on('error', (e: Error) => {
      if (gen === generation) void broke(e);
    });
    body.once('close', () => {
      // closed without 'end' or 'error' (aborted): treat as a broken connection
      if (gen === generation && !body.readableEnded) void broke(Object.assign(new Error('body closed early'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    });
  };
  attach(first);
  return out;
}
