/**
 * FROM oci:DIR: the base's layer blobs enter the local store by hard link (no second
 * write), still verified; anything odd in the layout falls back to a verified copy.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';
import { testImageLayout } from '../helpers/images.js';
import { makeContext } from '../helpers/build-fixture.js';

let source: string;
let layerHex: string;

/** A private copy of the test layout (the tests change it) and the hex of its busybox layer. */
function layoutCopy(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'slipway-ocibase-')), 'layout');
  execFileSync('cp', ['-a', source, dir]);
  return dir;
}

function storeBlob(root: string): string {
  return join(root, 'oci', 'blobs', 'sha256', layerHex);
}

async function buildFrom(layout: string): Promise<{ code: number; stderr: string; root: string }> {
  const root = mkdtempSync(join(tmpdir(), 'slipway-ocibase-root-'));
  const ctx = makeContext({ Dockerfile: `FROM oci:${layout}:busybox\nENV X=1\n` });
  const r = await slipway(['build', '--root', root, '-q', '-t', 'ocibase:1', ctx]);
  return { code: r.code, stderr: r.stderr, root };
}

beforeAll(async () => {
  source = await testImageLayout();
  // the busybox layer: the largest blob of the layout
  const blobs = join(source, 'blobs', 'sha256');
  layerHex = readdirSync(blobs).sort((a, b) => statSync(join(blobs, b)).size - statSync(join(blobs, a)).size)[0] as string;
});

describe('FROM oci: layer blobs into the local store', () => {
  it('hard-links the layout\'s layer blob (same inode), which stays after the layout is deleted', async () => {
    const layout = layoutCopy();
    const r = await buildFrom(layout);
    expect(r.code, r.stderr).toBe(0);
    const src = statSync(join(layout, 'blobs', 'sha256', layerHex));
    const dst = lstatSync(storeBlob(r.root));
    expect(dst.isFile()).toBe(true);
    expect(dst.ino).toBe(src.ino);
    rmSync(layout, { recursive: true, force: true });
    // the store is usable without the layout: a RUN over the stored image unpacks (and verifies) the blob
    const again = await slipway(['build', '--root', r.root, '-q', '-t', 'ocibase:2', makeContext({ Dockerfile: 'FROM ocibase:1\nRUN test -x /bin/busybox\n' })]);
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(join(r.root, 'tmp')).filter((n) => n.startsWith('base-'))).toEqual([]);
  });

  it('copies (never links) a layer blob that is a symlink in the layout', async () => {
    const layout = layoutCopy();
    const blob = join(layout, 'blobs', 'sha256', layerHex);
    const moved = join(layout, '..', 'elsewhere');
    renameSync(blob, moved);
    symlinkSync(moved, blob);
    const r = await buildFrom(layout);
    expect(r.code, r.stderr).toBe(0);
    const dst = lstatSync(storeBlob(r.root));
    expect(dst.isFile()).toBe(true);
    expect(dst.ino).not.toBe(statSync(moved).ino);
  });

  it('refuses a layer blob whose bytes do not match its digest and stores nothing under that digest', async () => {
    const layout = layoutCopy();
    const blob = join(layout, 'blobs', 'sha256', layerHex);
    const bytes = readFileSync(blob);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] as number) ^ 0xff; // same size, other content
    rmSync(blob);
    writeFileSync(blob, bytes);
    const r = await buildFrom(layout);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/digest|sha256/i);
    expect(existsSync(storeBlob(r.root))).toBe(false);
  });
});
