import { describe, expect, it } from 'vitest';
import { WORKER_MIN_BYTES, workerWanted } from '../../src/store/file-hasher.js';

describe('where a pulled blob is hashed', () => {
  it.each([
    { what: 'a big blob on 2 cores goes to the worker', size: WORKER_MIN_BYTES, env: {}, cores: 2, want: true },
    { what: 'a 200 MB blob on 8 cores goes to the worker', size: 200 << 20, env: {}, cores: 8, want: true },
    { what: 'a blob just under the threshold is hashed inline', size: WORKER_MIN_BYTES - 1, env: {}, cores: 8, want: false },
    { what: 'a small blob (a config) is hashed inline', size: 533, env: {}, cores: 8, want: false },
    { what: 'one core: inline', size: 200 << 20, env: {}, cores: 1, want: false },
    { what: 'SLIPWAY_HASH_WORKER=1 forces the worker, even for a small blob on one core', size: 10, env: { SLIPWAY_HASH_WORKER: '1' }, cores: 1, want: true },
    { what: 'SLIPWAY_HASH_WORKER=0 forces inline', size: 200 << 20, env: { SLIPWAY_HASH_WORKER: '0' }, cores: 8, want: false },
    { what: 'another SLIPWAY_HASH_WORKER value is ignored', size: 200 << 20, env: { SLIPWAY_HASH_WORKER: 'yes' }, cores: 2, want: true },
  ])('$what', ({ size, env, cores, want }) => {
    expect(workerWanted(size, env, cores)).toBe(want);
  });
});
