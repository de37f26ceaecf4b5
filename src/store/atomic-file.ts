import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { StoreError } from './errors.js';

/** A file that appears at `path` complete (commit) or not at all (abort). */
export interface AtomicFile {
  readonly stream: Writable;
  /** Waits for the stream to finish, fsyncs and renames into place. */
  commit(): Promise<void>;
  /** Drops the partial file. Safe after a failed commit. */
  abort(): Promise<void>;
}

export function atomicFile(path: string): AtomicFile {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const stream = createWriteStream(tmp, { flags: 'wx', mode: 0o644, highWaterMark: 1 << 20 });
  let openError: Error | undefined;
  stream.on('error', (e) => (openError ??= e));
  return {
    stream,
    async commit() {
      try {
        if (!stream.writableFinished) await finished(stream);
        if (openError !== undefined) throw openError;
        const fh = await open(tmp, 'r');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, path);
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw new StoreError(`cannot write ${path}: ${(e as Error).message}`, 'check that the directory exists, is writable and has free space', e);
      }
    },
    async abort() {
      stream.destroy();
      await unlink(tmp).catch(() => undefined);
    },
  };
}
