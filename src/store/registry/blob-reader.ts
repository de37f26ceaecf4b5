import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { DigestMismatchError, SizeMismatchError, parseDigest, type Descriptor } from '../../oci/index.js';
import type { BlobWriter } from '../store.js';
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

/** Where a download delivers its bytes. */
interface ChunkTarget {
  /** The next bytes of the blob, in order; false asks the download to pause until resume(). */
  chunk(c: Buffer): boolean;
  /** Exactly desc.size bytes were delivered. */
  end(): void;
  /** The download failed for good (retries used up, or too many bytes). */
  fail(e: Error): void;
}

interface Download {
  resume(): void;
  /** Drops the connection; no more calls on the target. */
  stop(): void;
}

/**
 * Feeds a blob's bytes to `target`, starting with the response `first`. When the connection
 * breaks mid-blob the read resumes with a Range request (or restarts and skips what was already
 * delivered if the registry ignores Range), with backoff, up to the retry policy's attempts.
 * Delivers exactly desc.size bytes; more is a SizeMismatchError. Does not hash.
 */
function download(t: BlobReadTarget, desc: Descriptor, first: RegistryResponse, target: ChunkTarget): Download {
  const policy = t.retry ?? DEFAULT_RETRY_POLICY;
  const where = `blob ${desc.digest} from ${t.client.registry}/${t.repository}`;
  const ctx: RegistryErrorContext = { registry: t.client.registry, repository: t.repository, operation: `fetching blob ${desc.digest}` };
  let received = 0;
  let failures = 0;
  let current: RegistryResponse = first;
  let skip = 0;
  /** Bumped whenever a response is dropped, so its late events are ignored. */
  let generation = 0;
  let stopped = false;

  const fail = (e: Error): void => {
    if (stopped) return;
    stopped = true;
    generation++;
    current.body.destroy();
    target.fail(e);
  };

  const broke = async (e: unknown): Promise<void> => {
    generation++;
    if (stopped) return;
    failures++;
    if (failures >= policy.attempts) {
      fail(new RegistryUnreachableError(ctx, e, `connection broke after ${received} of ${desc.size} bytes, ${failures} times`));
      return;
    }
    const delayMs = backoffDelay(policy, failures);
    t.client.emit({ type: 'retry', registry: t.client.registry, operation: ctx.operation, attempt: failures, delayMs, reason: networkErrorCode(e) ?? 'stream broke' });
    await sleep(delayMs);
    current.body.destroy();
    if (stopped) return;
    try {
      const res = await getFrom(t, desc, received);
      if (stopped) {
        res.body.destroy();
        return;
      }
      t.client.emit({ type: 'blob-fetch', registry: t.client.registry, repository: t.repository, digest: desc.digest, size: desc.size, resumedAt: received });
      attach(res);
    } catch (err) {
      fail(err as Error);
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
        fail(new SizeMismatchError(desc.size, received, where));
        return;
      }
      if (!target.chunk(c)) body.pause();
    });
    body.once('end', () => {
      if (gen !== generation) return;
      if (received < desc.size) {
        void broke(Object.assign(new Error(`body ended after ${received} of ${desc.size} bytes`), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
        return;
      }
      generation++;
      stopped = true;
      target.end();
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
  return {
    resume: () => {
      if (!stopped) current.body.resume();
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      generation++;
      current.body.destroy();
    },
  };
}

/** The first GET of a blob (errors here are the registry's answer: a read may try a mirror next). */
export async function requestBlob(t: BlobReadTarget, desc: Descriptor): Promise<RegistryResponse> {
  parseDigest(desc.digest);
  const res = await getFrom(t, desc, 0);
  t.client.emit({ type: 'blob-fetch', registry: t.client.registry, repository: t.repository, digest: desc.digest, size: desc.size });
  return res;
}

/**
 * Streams a blob, verified against its digest and size, resuming broken downloads (see
 * download()). The stream errors with DigestMismatchError/SizeMismatchError at its end when
 * the bytes are wrong, so a consumer writing to a temp file never keeps a bad blob.
 */
export async function openBlob(t: BlobReadTarget, desc: Descriptor, first?: RegistryResponse): Promise<Readable> {
  const { algorithm } = parseDigest(desc.digest);
  const where = `blob ${desc.digest} from ${t.client.registry}/${t.repository}`;
  const res = first ?? (await requestBlob(t, desc));
  const hash = createHash(algorithm);
  let dl: Download | undefined;
  // A plain Readable fed from the response body's 'data' events (pausing it for backpressure):
  // one hop per chunk instead of an async iterator plus an async generator.
  const out = new Readable({
    highWaterMark: 1 << 20,
    read() {
      dl?.resume();
    },
    destroy(err, cb) {
      dl?.stop();
      cb(err);
    },
  });
  dl = download(t, desc, res, {
    chunk(c) {
      hash.update(c);
      return out.push(c);
    },
    end() {
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== desc.digest) out.destroy(new DigestMismatchError(desc.digest, actual, where));
      else out.push(null);
    },
    fail(e) {
      out.destroy(e);
    },
  });
  return out;
}

/**
 * Writes a blob's bytes to `writer` (exactly desc.size of them, resuming broken downloads),
 * starting with the response `first` (from requestBlob). Does not hash and does not commit:
 * the writer verifies the digest in its commit(). Rejects when the download fails for good.
 */
export function downloadBlobTo(t: BlobReadTarget, desc: Descriptor, first: RegistryResponse, writer: BlobWriter): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let waiting = false;
    const dl = download(t, desc, first, {
      chunk(c) {
        if (writer.write(c) || waiting) return true;
        waiting = true;
        writer.drain().then(() => {
          waiting = false;
          dl.resume();
        }, (e: unknown) => {
          dl.stop();
          reject(e as Error);
        });
        return false;
      },
      end: resolve,
      fail: reject,
    });
  });
}
