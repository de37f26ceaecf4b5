import { describe, expect, it } from 'vitest';
import { fullIdMap, idMapArgs, parseIdMap, parseSubIds } from '../../src/runtime/subids.js';
import { currentHardLimit } from '../../src/runtime/capabilities.js';

describe('subordinate ID ranges', () => {
  const FILE = '# comment\nalice:100000:65536\nbob:165536:65536\n1001:300000:1000\nalice:500000:10\nbroken:line\n';
  it.each([
    ['alice', 1000, [{ start: 100000, count: 65536 }, { start: 500000, count: 10 }]],
    ['bob', 1002, [{ start: 165536, count: 65536 }]],
    ['carol', 1001, [{ start: 300000, count: 1000 }]],
    ['dave', 1003, []],
  ] as const)('%s (uid %i) owns %j', (user, uid, want) => {
    expect(parseSubIds(FILE, user, uid)).toEqual(want);
  });

  it('maps 0 to the caller and 1.. to the ranges in order, as newuidmap arguments', () => {
    const map = fullIdMap(1001, [{ start: 100000, count: 65536 }, { start: 500000, count: 10 }]);
    expect(idMapArgs(map)).toEqual(['0', '1001', '1', '1', '100000', '65536', '65537', '500000', '10']);
  });

  it('parses /proc/self/uid_map', () => {
    expect(parseIdMap('         0       1001          1\n         1     100000      65536\n')).toEqual([
      { containerID: 0, hostID: 1001, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ]);
  });
});

describe('rlimits never exceed the current hard limit', () => {
  const LIMITS = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 20000                files\nMax processes             unlimited            unlimited            processes\n';
  it.each([
    ['Max open files', 20000],
    ['Max processes', undefined],
    ['Max nothing', undefined],
  ] as const)('%s -> %s', (name, want) => {
    expect(currentHardLimit(LIMITS, name)).toBe(want);
  });
});
