import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { build, type BuildEvent } from '../../src/index.js';
import { loadImage } from '../../src/image/index.js';
import { LayoutStore } from '../../src/store/index.js';

describe('library API: build(options) with a typed event stream', () => {
  it('builds a FROM scratch image into the store and reports every step', async () => {
    const ctx = mkdtempSync(join(tmpdir(), 'slipway-lib-'));
    mkdirSync(join(ctx, 'app'));
    writeFileSync(join(ctx, 'app/index.js'), 'console.log("hi")\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY app /app\nENV NODE_ENV=production\nCMD ["node", "/app/index.js"]\n');
    const root = mkdtempSync(join(tmpdir(), 'slipway-lib-root-'));
    const events: BuildEvent[] = [];
    const result = await build({ context: ctx, root, tags: ['lib/app:1'], timestamp: 1_700_000_000, onEvent: (e) => events.push(e) });
    expect(result.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(result.tags).toEqual(['lib/app:1']);
    expect(result.steps).toEqual({ run: 1, cached: 0 });
    expect(events[0]?.type).toBe('mode');
    const texts = events.filter((e) => e.type === 'step-start').map((e) => (e as { text: string }).text);
    expect(texts.slice(0, 2)).toEqual(['COPY app /app', 'ENV NODE_ENV=production']);
    expect(texts[2]).toMatch(/^CMD \["node", ?"\/app\/index.js"\]$/);
    expect(events[events.length - 1]).toMatchObject({ type: 'done', digest: result.digest });

    const store = await LayoutStore.open(join(root, 'oci'), { create: false });
    const img = await loadImage(store, 'docker.io/lib/app:1');
    expect(img.digest).toBe(result.digest);
    expect(img.config.config?.Cmd).toEqual(['node', '/app/index.js']);
    expect(img.config.created).toBe('2023-11-14T22:13:20Z');
    await store.close();

    // same inputs, same timestamp: the same image, every layer from the cache
    const again = await build({ context: ctx, root, tags: ['lib/app:1'], timestamp: 1_700_000_000 });
    expect(again.digest).toBe(result.digest);
    expect(again.steps).toEqual({ run: 0, cached: 1 });
  });

  it('fails with a typed, located error', async () => {
    const ctx = mkdtempSync(join(tmpdir(), 'slipway-lib-bad-'));
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY missing /m\n');
    await expect(build({ context: ctx, root: mkdtempSync(join(tmpdir(), 'slipway-lib-root-')) })).rejects.toMatchObject({
      code: 'COPY_SOURCE',
      message: expect.stringMatching(/^Dockerfile:2: COPY source "missing" not found in build context/),
    });
  });
});
