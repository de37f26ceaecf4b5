import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlobSources, defaultBlobSourcesFile } from '../../src/store/registry/blob-sources.js';

const dir = mkdtempSync(join(tmpdir(), 'slipway-blob-sources-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

describe('cross-repository mount hints', () => {
  it('remembers the newest repositories per registry and digest, at most four', () => {
    const s = new BlobSources();
    for (const r of ['a', 'b', 'c', 'd', 'e', 'b']) s.add('reg:5000', D1, r);
    expect(s.get('reg:5000', D1)).toEqual(['b', 'e', 'd', 'c']);
    expect(s.get('other:5000', D1)).toEqual([]);
    expect(s.get('reg:5000', D2)).toEqual([]);
  });

  it('persists to a file and merges with what another process saved meanwhile', () => {
    const file = join(dir, 'sub', 'hints.json');
    const p1 = new BlobSources(file);
    const p2 = new BlobSources(file);
    p1.add('reg', D1, 'team/one');
    p2.add('reg', D2, 'team/two');
    p1.save();
    p2.save();
    const p3 = new BlobSources(file);
    expect(p3.get('reg', D1)).toEqual(['team/one']);
    expect(p3.get('reg', D2)).toEqual(['team/two']);
  });

  it('treats a corrupt hint file as empty and never fails on save', () => {
    const file = join(dir, 'corrupt.json');
    writeFileSync(file, '{not json');
    const s = new BlobSources(file);
    expect(s.get('reg', D1)).toEqual([]);
    s.add('reg', D1, 'x');
    s.save();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ reg: { [D1]: ['x'] } });
    // a regular file where the directory should be
    const unwritable = new BlobSources(join(file, 'sub', 'hints.json'));
    unwritable.add('reg', D1, 'x');
    expect(() => unwritable.save()).not.toThrow();
  });

  it('lives in the XDG cache directory', () => {
    expect(defaultBlobSourcesFile({ HOME: '/h' })).toBe('/h/.cache/slipway/blob-sources.json');
    expect(defaultBlobSourcesFile({ HOME: '/h', XDG_CACHE_HOME: '/c' })).toBe('/c/slipway/blob-sources.json');
    // relative values are ignored (XDG base directory spec), as for slipway's other caches
    expect(defaultBlobSourcesFile({ HOME: '/h', XDG_CACHE_HOME: 'rel/cache' })).toBe('/h/.cache/slipway/blob-sources.json');
    expect(defaultBlobSourcesFile({ HOME: 'rel', XDG_CACHE_HOME: '' })).toBe(join(homedir(), '.cache', 'slipway', 'blob-sources.json'));
  });
});
