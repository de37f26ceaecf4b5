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

  async function* bytes(): AsyncGenerator<Buffer> {
    const hash = createHash(algorithm);
    let received = 0;
    let res = first;
    let failures = 0;
    for (;;) {
      let skip = res.status === 206 ? 0 : received;
      try {
        for await (const chunk of res.body) {
          let c = chunk as Buffer;
          if (skip > 0) {
            if (c.length <= skip) {
              skip -= c.length;
              continue;
            }
            c = c.subarray(skip);
            skip = 0;
          }
          received += c.length;
          if (received > desc.size) throw new SizeMismatchError(desc.size, received, where);
          hash.update(c);
          yield c;
        }
        if (received < desc.size) throw Object.assign(new Error(`body ended after ${received} of ${desc.size} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
        break;
      } catch (e) {
        if (e instanceof SizeMismatchError) throw e;
        failures++;
        if (failures >= policy.attempts) throw new RegistryUnreachableError(ctx, e, `connection broke after ${received} of ${desc.size} bytes, ${failures} times`);
        const delayMs = backoffDelay(policy, failures);
        t.client.emit({ type: 'retry', registry: t.client.registry, operation: ctx.operation, attempt: failures, delayMs, reason: networkErrorCode(e) ?? 'stream broke' });
        await sleep(delayMs);
        res.body.destroy();
        res = await getFrom(t, desc, received);
        t.client.emit({ type: 'blob-fetch', registry: t.client.registry, repository: t.repository, digest: desc.digest, size: desc.size, resumedAt: received });
      }
    }
    const actual = `${algorithm}:${hash.digest('hex')}`;
    if (received !== desc.size) throw new SizeMismatchError(desc.size, received, where);
    if (actual !== desc.digest) throw new DigestMismatchError(desc.digest, actual, where);
  }

  return Readable.from(bytes(), { objectMode: false, highWaterMark: 1 << 20 });
}
