import { createHash, type Hash } from 'node:crypto';
import { read } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { builtin } from '../oci/builtin.js';

/**
 * Hashes a file while it is being written. A big blob on a machine with a second core is hashed
 * on a worker thread: the writer says how far the file is written (`advance`), the worker reads
 * that part back (from the page cache) and hashes it, and `digest()` gives the hash of the bytes
 * on disk once all are written; the main thread only writes, so downloading and hashing run on
 * two cores. Otherwise (a small blob, one core, no worker) inline: the writer hands each chunk to
 * `update` as it writes it.
 */
export interface FileHasher {
  /** The next bytes written (in order): an inline hasher hashes them now, a worker hasher ignores them. */
  update(chunk: Buffer): void;
  /** Bytes [0, upTo) of the file are written and will not change. */
  advance(upTo: number): void;
  /** The digest (`alg:hex`) of bytes [0, size); the file must be written up to `size`. */
  digest(size: number): Promise<string>;
  /** Forgets the job (the file is being dropped). */
  cancel(): void;
}

/** Runs in the worker (CommonJS, eval'd: nothing to resolve, so it works from a bundle too). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { readSync } = require('node:fs');
const jobs = new Map();
const buf = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', (m) => {
  if (m.cancel) { jobs.delete(m.id); return; }
  let j = jobs.get(m.id);
  if (j === undefined) { j = { hash: createHash(m.alg), pos: 0 }; jobs.set(m.id, j); }
  try {
    while (j.pos < m.upTo) {
      const n = readSync(m.fd, buf, 0, Math.min(buf.length, m.upTo - j.pos), j.pos);
      if (n <= 0) throw new Error('file ended at ' + j.pos + ' of ' + m.upTo + ' bytes');
      j.hash.update(n === buf.length ? buf : buf.subarray(0, n));
      j.pos += n;
    }
    if (m.end) { jobs.delete(m.id); parentPort.postMessage({ id: m.id, hex: j.hash.digest('hex') }); }
  } catch (e) {
    jobs.delete(m.id);
    parentPort.postMessage({ id: m.id, error: String(e && e.message || e) });
  }
});
`;

interface Pending {
  resolve(hex: string): void;
  reject(e: Error): void;
}

let worker: Worker | undefined;
let workerBroken = false;
let nextId = 0;
/** Jobs waiting for a digest; the worker holds the process open only while there are any. */
const waiting = new Map<number, Pending>();

function failAll(e: Error): void {
  workerBroken = true;
  worker = undefined;
  for (const p of waiting.values()) p.reject(e);
  waiting.clear();
}

/** Written bytes handed to the worker per message. */
const ADVANCE_STEP = 4 << 20;

/** Blobs smaller than this are hashed inline: handing them over costs more than it saves. */
export const WORKER_MIN_BYTES = 16 << 20;

/**
 * Whether a blob of `size` bytes is hashed on the worker: when it is big and there is a second
 * core. A pull keeps this thread busy parsing HTTP and writing; the worker hashes what is already
 * written on another core. On 2 cores, 200 MB in 6 blobs (registry-bench, 7 runs each): median
 * 0.39 s with the worker, 0.44 s without, for ~30 ms more CPU (the read-back). The load average
 * is no guide: a pull's own earlier runs push it past the core count, and the worker still wins.
 * A small blob is hashed inline, and a pull of small blobs never starts the worker (its start
 * costs ~30 ms at exit). SLIPWAY_HASH_WORKER=1/0 forces either way, whatever the size.
 */
export function workerWanted(size: number, env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): boolean {
  const forced = env['SLIPWAY_HASH_WORKER'];
  if (forced === '1' || forced === '0') return forced === '1';
  return size >= WORKER_MIN_BYTES && cores >= 2;
}

function hashWorker(): Worker | undefined {
  if (worker !== undefined || workerBroken) return worker;
  try {
    const { Worker } = builtin<typeof import('node:worker_threads')>('node:worker_threads');
    const w = new Worker(WORKER_SOURCE, { eval: true, stdout: false, stderr: false });
    w.on('message', (m: { id: number; hex?: string; error?: string }) => {
      const p = waiting.get(m.id);
      if (p === undefined) return;
      waiting.delete(m.id);
      if (waiting.size === 0) w.unref();
      if (m.hex !== undefined) p.resolve(m.hex);
      else p.reject(new Error(m.error ?? 'hash worker failed'));
    });
    w.on('error', (e) => failAll(e));
    w.on('exit', (code) => failAll(new Error(`hash worker exited with code ${code}`)));
    // after the listeners (adding a 'message' listener refs the worker again): an idle worker
    // never keeps the process alive
    w.unref();
    worker = w;
  } catch {
    workerBroken = true;
  }
  return worker;
}

/** Hashes `fd` on this thread, reading it back (the fallback when the worker is gone). */
function hashHere(fd: number, algorithm: string, size: number): Promise<string> {
  const hash: Hash = createHash(algorithm);
  const buf = Buffer.allocUnsafe(1 << 20);
  let pos = 0;
  return new Promise((resolve, reject) => {
    const step = (): void => {
      if (pos >= size) {
        resolve(hash.digest('hex'));
        return;
      }
      read(fd, buf, 0, Math.min(buf.length, size - pos), pos, (err, n) => {
        if (err) return reject(err);
        if (n <= 0) return reject(new Error(`file ended at ${pos} of ${size} bytes`));
        hash.update(n === buf.length ? buf : buf.subarray(0, n));
        pos += n;
        step();
      });
    };
    step();
  });
}

/** Starts the hash worker ahead of the blobs when the biggest of them (`size` bytes) will use it. */
export function warmFileHasher(size: number): void {
  if (workerWanted(size)) hashWorker();
}

/** A hasher for the file open (readable) as `fd`, computing `algorithm` (sha256, sha512) of a blob of `size` bytes. */
export function fileHasher(fd: number, algorithm: string, size: number): FileHasher {
  const w = workerWanted(size) ? hashWorker() : undefined;
  if (w === undefined) {
    const hash = createHash(algorithm);
    return {
      update: (chunk) => hash.update(chunk),
      advance: () => undefined,
      digest: async () => `${algorithm}:${hash.digest('hex')}`,
      cancel: () => undefined,
    };
  }
  const id = ++nextId;
  let posted = 0;
  let cancelled = false;
  return {
    update: () => undefined,
    advance(upTo) {
      if (workerBroken || upTo <= posted) return;
      // each step costs a message on this (busy) thread: hand over at least 4 MiB at a time
      // (1 MiB steps: 200 messages per 200 MB, ~10 ms more per pull on 2 cores)
      if (upTo - posted < ADVANCE_STEP) return;
      posted = upTo;
      w.postMessage({ id, fd, alg: algorithm, upTo });
    },
    async digest(size) {
      if (!workerBroken) {
        try {
          const hex = await new Promise<string>((resolve, reject) => {
            waiting.set(id, { resolve, reject });
            w.ref();
            w.postMessage({ id, fd, alg: algorithm, upTo: size, end: true });
          });
          return `${algorithm}:${hex}`;
        } catch {
          if (cancelled) throw new Error('cancelled');
          // the worker died or could not read: hash here instead
        }
      }
      return `${algorithm}:${await hashHere(fd, algorithm, size)}`;
    },
    cancel() {
      cancelled = true;
      if (!workerBroken) w.postMessage({ id, cancel: true });
      const p = waiting.get(id);
      if (p !== undefined) {
        waiting.delete(id);
        p.reject(new Error('cancelled'));
        if (waiting.size === 0) w.unref();
      }
    },
  };
}
