import { fdatasync, writev } from 'node:fs';
import { mkdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DigestMismatchError, SizeMismatchError, parseDigest, type Descriptor } from '../oci/index.js';
import { StoreError } from './errors.js';
import { fileHasher, type FileHasher } from './file-hasher.js';
import type { BlobWriter } from './store.js';

/** Bytes queued in memory before write() asks the producer to wait. */
const HIGH_WATER = 8 << 20;
/** At most this many buffers per writev (IOV_MAX is 1024 on Linux). */
const MAX_IOVECS = 512;
/** A blob's written bytes are flushed to disk early each time this many more are written. */
const FLUSH_STEP = 16 << 20;
/** One early flush at a time in the process, so the thread pool keeps threads for the writes. */
let flushBusy = false;

/**
 * Writes one blob to a temp file (opened read-write, exclusively, by the caller) with
 * positional writev calls straight from the chunks it is given: no stream machinery, one
 * syscall per batch. The file is hashed as it grows by a FileHasher (a big one on a worker
 * thread), so what is verified is what is on disk. commit() checks size and digest, fsyncs and
 * renames the file to `final`; anything else removes it. A process killed mid-blob leaves only
 * the temp file, which the store removes when next opened.
 */
export class BlobFileWriter implements BlobWriter {
  private readonly hasher: FileHasher;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes on disk. */
  private written = 0;
  /** Bytes given to write(). */
  private received = 0;
  private inflight = false;
  /** An early fdatasync is running. */
  private syncing = false;
  /** Bytes an early flush has put on disk. */
  private flushedTo = 0;
  private error: Error | undefined;
  private closed = false;
  private drainWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly fh: FileHandle,
    private readonly tmp: string,
    private readonly final: string,
    private readonly desc: Descriptor,
    private readonly where: string,
  ) {
    this.hasher = fileHasher(fh.fd, parseDigest(desc.digest).algorithm, desc.size);
  }

  write(chunk: Buffer): boolean {
    if (this.error !== undefined || this.closed) return true;
    this.received += chunk.length;
    if (this.received > this.desc.size) {
      this.fail(new SizeMismatchError(this.desc.size, this.received, this.where));
      return true;
    }
    this.hasher.update(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.flush();
    return this.pendingBytes < HIGH_WATER;
  }

  drain(): Promise<void> {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.pendingBytes < HIGH_WATER) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.pending = [];
    this.pendingBytes = 0;
    for (const w of this.drainWaiters.splice(0)) w.reject(this.error);
    this.settle();
  }

  /** No write or flush runs, and nothing more is to be written. */
  private quiet(): boolean {
    return !this.inflight && !this.syncing && (this.pending.length === 0 || this.error !== undefined);
  }

  /** Wakes idle() waiters once quiet. */
  private settle(): void {
    if (this.quiet()) for (const w of this.idleWaiters.splice(0)) w();
  }

  /**
   * Flushes what is written so far (fdatasync on the thread pool) once FLUSH_STEP more bytes are
   * on disk: the disk writes while the download goes on, so the fsync in commit() has only the
   * tail left to wait for (it was 20-40 ms per 60 MB blob at the end of a pull). An error fails
   * the blob: a failed writeback is reported once, so commit()'s fsync might not see it.
   */
  private earlyFlush(): void {
    if (flushBusy || this.syncing || this.error !== undefined || this.written - this.flushedTo < FLUSH_STEP) return;
    flushBusy = true;
    this.syncing = true;
    const upTo = this.written;
    fdatasync(this.fh.fd, (err) => {
      flushBusy = false;
      this.syncing = false;
      if (err) this.fail(err);
      else this.flushedTo = upTo;
      this.settle();
    });
  }

  private flush(): void {
    if (this.inflight || this.pending.length === 0 || this.error !== undefined) return;
    const bufs = this.pending.length <= MAX_IOVECS ? this.pending : this.pending.slice(0, MAX_IOVECS);
    this.pending = this.pending.length <= MAX_IOVECS ? [] : this.pending.slice(MAX_IOVECS);
    let bytes = 0;
    for (const b of bufs) bytes += b.length;
    this.pendingBytes -= bytes;
    this.inflight = true;
    writev(this.fh.fd, bufs, this.written, (err, n) => {
      this.inflight = false;
      if (err) {
        this.fail(err);
        return;
      }
      this.written += n;
      if (n < bytes) {
        // short write: the rest goes first in the next batch
        let skip = n;
        const rest: Buffer[] = [];
        for (const b of bufs) {
          if (skip >= b.length) skip -= b.length;
          else {
            rest.push(skip > 0 ? b.subarray(skip) : b);
            skip = 0;
          }
        }
        this.pending = [...rest, ...this.pending];
        this.pendingBytes += bytes - n;
      }
      this.hasher.advance(this.written);
      this.flush();
      this.earlyFlush();
      if (this.pendingBytes < HIGH_WATER) for (const w of this.drainWaiters.splice(0)) w.resolve();
      this.settle();
    });
  }

  private idle(): Promise<void> {
    if (this.quiet()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async commit(): Promise<void> {
    try {
      await this.idle();
      if (this.error !== undefined) throw this.error;
      if (this.received !== this.desc.size) throw new SizeMismatchError(this.desc.size, this.received, this.where);
      // flushing to disk and finishing the hash run at once (both settle before the fd can be
      // closed); a mismatch still removes the file
      const [hashed, synced] = await Promise.allSettled([this.hasher.digest(this.written), this.fh.sync()]);
      if (hashed.status === 'rejected') throw hashed.reason;
      if (synced.status === 'rejected') throw synced.reason;
      const actual = hashed.value;
      if (actual !== this.desc.digest) throw new DigestMismatchError(this.desc.digest, actual, this.where);
      this.closed = true;
      await this.fh.close();
      await mkdir(dirname(this.final), { recursive: true });
      await rename(this.tmp, this.final);
    } catch (e) {
      await this.abort();
      if (e instanceof SizeMismatchError || e instanceof DigestMismatchError || e instanceof StoreError) throw e;
      throw new StoreError(`cannot write ${this.final}: ${(e as Error).message}`, 'check that the store directory is writable and has free space', e);
    }
  }

  async abort(): Promise<void> {
    this.fail(this.error ?? new Error('aborted'));
    this.hasher.cancel();
    // never close the fd under a write still running (the number could be reused)
    await this.idle();
    if (!this.closed) {
      this.closed = true;
      await this.fh.close().catch(() => undefined);
    }
    await unlink(this.tmp).catch(() => undefined);
  }
}
