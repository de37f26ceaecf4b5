import { Readable } from 'node:stream';
import {
  MANIFEST_ACCEPT,
  SizeMismatchError,
  digestOf,
  isDigest,
  isIndex,
  isManifest,
  parseDigest,
  verifyBytes,
  type Descriptor,
} from '../../oci/index.js';
import type { BlobWriter, Store } from '../store.js';
import { downloadBlobTo, openBlob, requestBlob } from './blob-reader.js';
import type { BlobSources } from './blob-sources.js';
import { headerValue, type RegistryClient, type RegistryResponse } from './client.js';
import { RegistryError, RegistryProtocolError, isRetriableRegistryError } from './errors.js';
import { DEFAULT_UPLOAD_LIMITS, putChunked, putMonolithic, readAll, startUpload, type UploadLimits } from './upload.js';

/** Manifests and configs are small; refuse to buffer anything bigger. */
const MAX_MANIFEST_BYTES = 8 << 20;
const MAX_SMALL_BLOB_BYTES = 64 << 20;

export interface RegistryRepositoryOptions {
  /** 'pull' asks for pull-only tokens; 'push' for pull,push (needed by push, tag and mounts). */
  access: 'pull' | 'push';
  /** Where reads go, in order (mirrors first); defaults to [client]. */
  readClients?: readonly RegistryClient[];
  /** Cross-repository mount hints; learned from every read and write. */
  blobSources?: BlobSources;
  limits?: UploadLimits;
}

function mediaTypeOf(res: RegistryResponse, body?: Buffer): string | undefined {
  const ct = headerValue(res, 'content-type')?.split(';')[0]?.trim();
  if (ct && ct !== 'application/json' && ct !== 'text/plain' && ct !== 'application/octet-stream') return ct;
  if (body) {
    try {
      const mt = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType;
      if (typeof mt === 'string') return mt;
    } catch {
      /* not JSON */
    }
  }
  return ct;
}

/**
 * One repository of a registry behind the Store interface: resolve tags/digests, fetch blobs
 * (streamed, verified, resumable), check existence, push blobs (exists check, cross-repo mount,
 * monolithic or chunked) and manifests, and tag. Every method may run concurrently; concurrent
 * pushes of one digest share a single upload.
 */
export class RegistryRepository implements Store {
  readonly name: string;
  private readonly readClients: readonly RegistryClient[];
  private readonly scopes: readonly string[];
  private readonly limits: UploadLimits;
  /** Manifest bytes seen by resolve/push, by digest, so fetchBytes/tag need no second GET. */
  private readonly manifests = new Map<string, Buffer>();
  private readonly uploads = new Map<string, Promise<void>>();
  /** Blobs a HEAD just reported missing: the push that usually follows skips a second HEAD. */
  private readonly missing = new Set<string>();
  /** Resolutions started by resolveAhead(), by ref, until resolve() takes them. */
  private readonly ahead = new Map<string, Promise<Descriptor>>();
  /** Which read client last resolved: later reads go there first. */
  private preferred: RegistryClient | undefined;

  constructor(
    readonly client: RegistryClient,
    readonly repository: string,
    private readonly opts: RegistryRepositoryOptions,
  ) {
    this.name = `${client.registry}/${repository}`;
    this.readClients = opts.readClients && opts.readClients.length > 0 ? opts.readClients : [client];
    this.scopes = [`repository:${repository}:${opts.access === 'push' ? 'pull,push' : 'pull'}`];
    this.limits = opts.limits ?? DEFAULT_UPLOAD_LIMITS;
  }

  /**
   * Starts what the first request needs (picking http/https, the auth challenge) without
   * waiting: a caller with other work to do first (opening the local store) overlaps the two.
   * A failure here is not reported; the first real request meets it again.
   */
  warm(): void {
    for (const c of this.readClients) c.baseUrl().catch(() => undefined);
  }

  private learn(digest: string, client: RegistryClient = this.client): void {
    this.opts.blobSources?.add(client.registry, digest, this.repository);
  }

  /** Runs a read against the preferred endpoint, then mirrors/the registry in order. */
  private async read<T>(fn: (c: RegistryClient) => Promise<T>): Promise<T> {
    const order = this.preferred ? [this.preferred, ...this.readClients.filter((c) => c !== this.preferred)] : this.readClients;
    let last: unknown;
    for (const c of order) {
      try {
        const out = await fn(c);
        this.preferred = c;
        return out;
      } catch (e) {
        last = e;
        if (order.length === 1 || !(e instanceof RegistryError)) throw e;
      }
    }
    throw last;
  }

  private manifestPath(ref: string): string {
    return `/v2/${this.repository}/manifests/${ref}`;
  }

  /**
   * Starts resolving `ref` now, for a caller with other work to do first (opening the local
   * store): the next resolve(ref) gets this answer (or its error) instead of asking again.
   */
  resolveAhead(ref: string): void {
    const p = this.resolveNow(ref);
    p.catch(() => undefined);
    this.ahead.set(ref, p);
  }

  resolve(ref: string): Promise<Descriptor> {
    const p = this.ahead.get(ref);
    if (p === undefined) return this.resolveNow(ref);
    this.ahead.delete(ref);
    return p;
  }

  /**
   * GETs the manifest `ref` names (one round trip, no HEAD first: every caller reads the
   * manifest next, and gets it from the cache), computes its digest and keeps its bytes.
   */
  private async resolveNow(ref: string): Promise<Descriptor> {
    return this.read(async (c) => {
      const operation = `resolving manifest ${ref}`;
      const res = await c.request({
        method: 'GET', path: this.manifestPath(ref), headers: { accept: MANIFEST_ACCEPT },
        scopes: this.scopes, repository: this.repository, operation,
      });
      const bytes = await readAll(res.body, MAX_MANIFEST_BYTES, `manifest ${ref} from ${c.registry}/${this.repository}`);
      const alg = isDigest(ref) ? parseDigest(ref).algorithm : 'sha256';
      const actual = digestOf(bytes, alg);
      if (isDigest(ref)) verifyBytes(bytes, ref, undefined, `manifest ${ref} from ${c.registry}/${this.repository}`);
      const mt = mediaTypeOf(res, bytes);
      if (!isManifest(mt) && !isIndex(mt)) {
        throw new RegistryProtocolError({ registry: c.registry, repository: this.repository, operation }, `unsupported manifest media type "${mt ?? 'none'}"`);
      }
      this.manifests.set(actual, bytes);
      return { mediaType: mt as string, digest: actual, size: bytes.length };
    });
  }

  async fetchBytes(desc: Descriptor): Promise<Buffer> {
    const where = `${desc.digest} from ${this.name}`;
    const cached = this.manifests.get(desc.digest);
    if (cached) {
      verifyBytes(cached, desc.digest, desc.size, where);
      return cached;
    }
    if (desc.size > (isManifest(desc.mediaType) || isIndex(desc.mediaType) ? MAX_MANIFEST_BYTES : MAX_SMALL_BLOB_BYTES)) {
      throw new SizeMismatchError(MAX_MANIFEST_BYTES, desc.size, `${where} (too large to hold in memory; stream it with fetch)`);
    }
    if (isManifest(desc.mediaType) || isIndex(desc.mediaType)) {
      return this.read(async (c) => {
        const res = await c.request({
          method: 'GET', path: this.manifestPath(desc.digest), headers: { accept: MANIFEST_ACCEPT },
          scopes: this.scopes, repository: this.repository, operation: `fetching manifest ${desc.digest}`,
        });
        const bytes = await readAll(res.body, desc.size, `manifest ${where}`);
        verifyBytes(bytes, desc.digest, desc.size, `manifest ${where}`);
        this.manifests.set(desc.digest, bytes);
        return bytes;
      });
    }
    const stream = await this.fetch(desc);
    return readAll(stream, desc.size, `blob ${where}`);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    if (isManifest(desc.mediaType) || isIndex(desc.mediaType)) return Readable.from([await this.fetchBytes(desc)]);
    return this.read(async (c) => {
      const s = await openBlob({ client: c, repository: this.repository, scopes: this.scopes }, desc);
      this.learn(desc.digest, c);
      return s;
    });
  }

  /**
   * Writes a blob to `writer` (see BlobSource.fetchTo): the first GET goes to the preferred
   * endpoint, then mirrors/the registry in order; a download that breaks later is resumed from
   * where it broke. The writer hashes and verifies.
   */
  async fetchTo(desc: Descriptor, writer: BlobWriter): Promise<void> {
    if (isManifest(desc.mediaType) || isIndex(desc.mediaType)) {
      writer.write(await this.fetchBytes(desc));
      return;
    }
    const { target, res } = await this.read(async (c) => {
      const t = { client: c, repository: this.repository, scopes: this.scopes };
      const first = await requestBlob(t, desc);
      this.learn(desc.digest, c);
      return { target: t, res: first };
    });
    await downloadBlobTo(target, desc, res, writer);
  }

  async exists(desc: Descriptor): Promise<boolean> {
    const manifest = isManifest(desc.mediaType) || isIndex(desc.mediaType);
    const res = await this.client.request({
      method: 'HEAD',
      path: manifest ? this.manifestPath(desc.digest) : `/v2/${this.repository}/blobs/${desc.digest}`,
      ...(manifest ? { headers: { accept: MANIFEST_ACCEPT } } : {}),
      scopes: this.scopes,
      repository: this.repository,
      operation: `checking ${manifest ? 'manifest' : 'blob'} ${desc.digest}`,
      accept: [404],
    });
    await res.body.dump();
    if (res.status === 404) {
      if (!manifest) this.missing.add(desc.digest);
      return false;
    }
    if (!manifest) this.learn(desc.digest);
    return true;
  }

  async push(desc: Descriptor, body: Readable | Uint8Array): Promise<void> {
    if (isManifest(desc.mediaType) || isIndex(desc.mediaType)) {
      const bytes = await readAll(body, MAX_MANIFEST_BYTES, `manifest ${desc.digest}`);
      verifyBytes(bytes, desc.digest, desc.size, `manifest ${desc.digest} pushed to ${this.name}`);
      await this.putManifest(desc, bytes, desc.digest);
      this.manifests.set(desc.digest, bytes);
      return;
    }
    const running = this.uploads.get(desc.digest);
    if (running) {
      if (body instanceof Readable) body.destroy();
      return running;
    }
    const p = this.pushBlob(desc, body).catch((e: unknown) => {
      // never leave the source open when the upload did not consume it
      if (body instanceof Readable && !body.destroyed) body.destroy();
      throw e;
    });
    this.uploads.set(desc.digest, p);
    try {
      await p;
    } finally {
      // keep successful uploads memoized (the blob is there); forget failures so a retry can run
      p.catch(() => this.uploads.delete(desc.digest));
    }
  }

  private async pushBlob(desc: Descriptor, body: Readable | Uint8Array): Promise<void> {
    const emit = (how: 'exists' | 'mounted' | 'monolithic' | 'chunked', from?: string) =>
      this.client.emit({ type: 'blob-push', registry: this.client.registry, repository: this.repository, digest: desc.digest, size: desc.size, how, ...(from ? { from } : {}) });
    const discard = () => {
      if (body instanceof Readable) body.destroy();
    };
    if (!this.missing.delete(desc.digest)) {
      const there = await this.exists(desc);
      this.missing.delete(desc.digest);
      if (there) {
        discard();
        emit('exists');
        return;
      }
    }
    const target = { client: this.client, repository: this.repository, scopes: this.scopes };
    let session: Awaited<ReturnType<typeof startUpload>> | undefined;
    const from = (this.opts.blobSources?.get(this.client.registry, desc.digest) ?? []).find((r) => r !== this.repository);
    if (from) {
      try {
        session = await startUpload(target, desc, from);
      } catch (e) {
        // a stale hint or no access to the source repository: fall back to a plain upload
        if (!(e instanceof RegistryError)) throw e;
      }
      if (session?.mounted) {
        discard();
        emit('mounted', from);
        this.learn(desc.digest);
        return;
      }
    }
    if (!session || session.mounted) session = await startUpload(target, desc);
    if (session.mounted) return;
    if (desc.size <= this.limits.monolithicMax || !(body instanceof Readable)) {
      const data = await readAll(body, Math.max(desc.size, 0), `blob ${desc.digest}`);
      // the bytes are in memory: a broken session is replaced by a fresh one
      for (let attempt = 1; ; attempt++) {
        try {
          await putMonolithic(target, desc, session.location, data);
          break;
        } catch (e) {
          if (attempt >= 3 || !isRetriableRegistryError(e)) throw e;
          session = await startUpload(target, desc);
          if (session.mounted) return;
        }
      }
      emit('monolithic');
    } else {
      await putChunked(target, desc, session.location, body, this.limits.chunkSize);
      emit('chunked');
    }
    this.learn(desc.digest);
  }

  private async putManifest(desc: Descriptor, bytes: Buffer, reference: string): Promise<void> {
    const res = await this.client.request({
      method: 'PUT',
      path: this.manifestPath(reference),
      headers: { 'content-type': desc.mediaType },
      body: bytes,
      scopes: this.scopes,
      repository: this.repository,
      operation: `pushing manifest ${reference}`,
    });
    await res.body.dump();
    this.client.emit({ type: 'manifest-push', registry: this.client.registry, repository: this.repository, reference, digest: desc.digest });
  }

  async tag(desc: Descriptor, ref: string): Promise<void> {
    const bytes = this.manifests.get(desc.digest) ?? (await this.fetchBytes(desc));
    await this.putManifest(desc, bytes, ref);
  }
}
