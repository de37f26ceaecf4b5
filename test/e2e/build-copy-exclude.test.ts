import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildToLayout, makeContext, readLayout } from '../helpers/build-fixture.js';

/** COPY --exclude patterns follow .dockerignore syntax, as BuildKit's: "!" exceptions, the last match wins. */
describe('slipway build: COPY --exclude with "!" exceptions', () => {
  it('--exclude=*.env --exclude=!keep.env copies keep.env and drops the other .env files', async () => {
    const ctx = makeContext({
      Dockerfile: 'FROM scratch\nCOPY --exclude=*.env --exclude=!keep.env --exclude=cache --exclude=!cache/wanted app/ /app/\n',
      'app/main.js': 'main\n',
      'app/keep.env': 'keep\n',
      'app/drop.env': 'drop\n',
      'app/cache/junk': 'junk\n',
      'app/cache/wanted': 'wanted\n',
    });
    const r = await buildToLayout(mkdtempSync(join(tmpdir(), 'slipway-exclude-')), ctx);
    expect(r.code, r.stderr).toBe(0);
    const img = await readLayout(r.out);
    expect(img.file('app/main.js')).toBe('main\n');
    expect(img.file('app/keep.env')).toBe('keep\n');
    expect(img.file('app/cache/wanted')).toBe('wanted\n');
    expect(img.stat('app/drop.env')).toBeUndefined();
    expect(img.stat('app/cache/junk')).toBeUndefined();
  });

  it('a lone "!" is refused with the Dockerfile line', async () => {
    const ctx = makeContext({ Dockerfile: 'FROM scratch\nCOPY --exclude=! a /a\n', a: 'a\n' });
    const r = await buildToLayout(mkdtempSync(join(tmpdir(), 'slipway-exclude-')), ctx);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Dockerfile:2: COPY --exclude=!: illegal exclusion pattern/);
  });
});
