import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import type { Pack, pack as packFn } from 'tar-stream';
import { VerifyStream, parseDigest, type Descriptor } from '../oci/index.js';
import { BlobNotFoundError, RefNotFoundError } from './errors.js';
import type { Store } from './store.js';

const requireCjs = createRequire(import.meta.url);
/** tar-stream loads when an archive is written, not at every CLI start. */
const pack = (): Pack => (requireCjs('tar-stream') as { pack: typeof packFn }).pack();

/** Entries get this mtime, so the same image always gives the same archive bytes. */
const ARCHIVE_MTIME = new Date(0);

/**
 * A write-only Store that streams blobs into a tar as `blobs/<alg>/<hex>`
 * (copy() with concurrency 1 writes them one after the other). Tags are only
 * recorded; the caller writes index.json / manifest.json with addFile() and
 * then finish().
 */
export class TarBlobWriter implements Store {
  private readonly tarPack: Pack = pack();
  private readonly written = new Set<string>();
  private readonly done: Promise<void>;
  readonly tags: Array<{ descriptor: Descriptor; ref: string }> = [];

  constructor(readonly name: string, out: Writable) {
    this.done = pipeline(this.tarPack, out);
    this.done.catch(() => undefined); // surfaced by finish()
  }

  async resolve(ref: string): Promise<Descriptor> {
    throw new RefNotFoundError(ref, this.name);
  }

  async exists(desc: Descriptor): Promise<boolean> {
    return this.written.has(desc.digest);
  }

  async fetch(desc: Descriptor): Promise<Readable> {
    throw new BlobNotFoundError(desc.digest, this.name);
  }

  async fetchBytes(desc: Descriptor): Promise<Buffer> {
    throw new BlobNotFoundError(desc.digest, this.name);
  }

  private async entry(name: string, size: number, body: Readable, verify?: Descriptor): Promise<void> {
    const sink = this.tarPack.entry({ name, size, mode: 0o644, mtime: ARCHIVE_MTIME, uid: 0, gid: 0, type: 'file' });
    if (verify !== undefined) await pipeline(body, new VerifyStream(verify.digest, verify.size, `blob ${verify.digest} for ${this.name}`), sink);
    else await pipeline(body, sink);
  }

  async push(desc: Descriptor, body: Readable | Uint8Array): Promise<void> {
    if (this.written.has(desc.digest)) {
      if (!(body instanceof Uint8Array)) body.destroy();
      return;
    }
    const { algorithm, hex } = parseDigest(desc.digest);
    this.written.add(desc.digest);
    await this.entry(`blobs/${algorithm}/${hex}`, desc.size, body instanceof Uint8Array ? Readable.from([Buffer.from(body)]) : body, desc);
  }

  async tag(desc: Descriptor, ref: string): Promise<void> {
    this.tags.push({ descriptor: desc, ref });
  }

  /** A small file (oci-layout, index.json, manifest.json) at `name`. */
  async addFile(name: string, data: Buffer): Promise<void> {
    await this.entry(name, data.length, Readable.from([data]));
  }

  /** Ends the tar and waits until the output has all of it. */
  async finish(): Promise<void> {
    this.tarPack.finalize();
    await this.done;
  }

  /** Stops writing (the output is incomplete; the caller discards it). */
  abort(err: Error): void {
    this.tarPack.destroy(err);
  }
}
