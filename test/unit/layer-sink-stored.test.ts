import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { GZIP_DEFAULT_LEVEL, LayerSink, worthCompressing } from '../../src/snapshot/layer-sink.js';

const work = mkdtempSync(join(tmpdir(), 'slipway-sink-stored-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const MiB = 1 << 20;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
/** Deterministic pseudo-random bytes (incompressible), so the test data is the same every run. */
function noise(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(String(seed)).digest();
  for (let i = 0; i < n; i += 32) {
    block.copy(out, i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}
const text = (n: number): Buffer => Buffer.from('the quick brown fox jumps over the lazy dog 0123456789\n'.repeat(Math.ceil(n / 55))).subarray(0, n);

describe('gzip members: incompressible blocks are stored, not deflated', () => {
  it.each([
    ['random bytes', noise(MiB, 1), false],
    ['text', text(MiB), true],
    ['zeros', Buffer.alloc(MiB), true],
    ['half random, half text (samples from both halves)', Buffer.concat([noise(MiB / 2, 2), text(MiB / 2)]), true],
    ['random with a text quarter', Buffer.concat([noise((3 * MiB) / 4, 3), text(MiB / 4)]), true],
    ['a block smaller than the sample (always compressed)', noise(32 << 10, 4), true],
  ])('%s: worth compressing = %s', async (_name, data, expected) => {
    expect(await worthCompressing(data)).toBe(expected);
  });

  async function sink(data: Buffer, name: string, concurrency?: number): Promise<{ size: number; bytes: Buffer; diffId: string; digest: string }> {
    const path = join(work, name);
    const s = LayerSink.open(path, { compression: 'gzip', blockSize: MiB, ...(concurrency !== undefined ? { concurrency } : {}) });
    await s.write(data);
    const r = await s.finish();
    return { size: r.size, bytes: readFileSync(path), diffId: r.diffId, digest: r.digest };
  }

  it('a layer of random data costs a few bytes per block and reads back exactly; text still shrinks', async () => {
    const data = Buffer.concat([noise(3 * MiB, 5), text(MiB)]);
    const r = await sink(data, 'mixed.gz');
    expect(sha(gunzipSync(r.bytes))).toBe(sha(data));
    expect(r.diffId).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    expect(r.digest).toBe(`sha256:${createHash('sha256').update(r.bytes).digest('hex')}`);
    // exactly: 3 members of stored blocks (level 0), then the text member deflated at the default level
    const member = (d: Buffer, level: number): Buffer => {
      const g = gzipSync(d, { level, memLevel: 9, chunkSize: MiB + (64 << 10) });
      g[9] = 0xff;
      return g;
    };
    const blocks = [0, 1, 2, 3].map((i) => data.subarray(i * MiB, (i + 1) * MiB));
    const expected = Buffer.concat([member(blocks[0] as Buffer, 0), member(blocks[1] as Buffer, 0), member(blocks[2] as Buffer, 0), member(blocks[3] as Buffer, GZIP_DEFAULT_LEVEL)]);
    expect(sha(r.bytes)).toBe(sha(expected)); // digests, so a failure does not print megabytes
    expect(r.size).toBeLessThan(3 * MiB + MiB / 10);
  });

  it('gives the same bytes whatever the number of members compressed at once', async () => {
    const data = Buffer.concat([noise(2 * MiB, 6), text(2 * MiB), randomBytes(0)]);
    const a = await sink(data, 'c1.gz', 1);
    const b = await sink(data, 'c4.gz', 4);
    expect(a.digest).toBe(b.digest);
  });
});
