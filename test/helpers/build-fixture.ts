import { mkdirSync, mkdtempSync, writeFileSync, readFileSync, lstatSync, readlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { PassThrough } from 'node:stream';
import tar from 'tar-stream';
import { loadImage, type Image, type Layer } from '../../src/image/index.js';
import { LayoutStore } from '../../src/store/index.js';
import { UnpackCache } from '../../src/snapshot/index.js';
import { slipway, type CliOptions, type CliResult } from './cli.js';

/**
 * Runs `slipway build --root ROOT --progress plain --output type=oci,dest=<new dir> ...args CTX`
 * the way a user does; `out` is the OCI layout the build wrote (read it with readLayout).
 */
export async function buildToLayout(root: string, ctx: string, args: readonly string[] = [], opts: CliOptions = {}): Promise<CliResult & { out: string }> {
  const out = join(mkdtempSync(join(tmpdir(), 'slipway-out-')), 'img');
  const r = await slipway(['build', '--root', root, '--progress', 'plain', '--output', `type=oci,dest=${out}`, ...args, ctx], opts);
  return { ...r, out };
}

/** A build context on disk from a map of relative path -> content. */
export function makeContext(files: Record<string, string>, base = tmpdir()): string {
  const dir = mkdtempSync(join(base, 'slipway-ctx-'));
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

export interface ReadBack {
  image: Image;
  rootfs: string;
  file(p: string): string;
  stat(p: string): { mode: number; uid: number; gid: number; type: string; link?: string } | undefined;
}

/** Loads the only image of an OCI layout written by `--output type=oci,dest=DIR` and unpacks it flat. */
export async function readLayout(dir: string, ref?: string): Promise<ReadBack> {
  const store = await LayoutStore.open(dir, { create: false });
  const entries = await store.list();
  const image = await loadImage(store, ref ?? (entries[0] as { descriptor: { digest: string } }).descriptor.digest);
  const rootfs = mkdtempSync(join(tmpdir(), 'slipway-readback-'));
  await new UnpackCache(join(rootfs, '.cache')).materialize(image.layers, join(rootfs, 'fs'));
  await store.close();
  const fs = join(rootfs, 'fs');
  return {
    image,
    rootfs: fs,
    file: (p) => readFileSync(join(fs, p), 'utf8'),
    stat: (p) => {
      const full = join(fs, p);
      if (!existsSync(full) && !(() => { try { lstatSync(full); return true; } catch { return false; } })()) return undefined;
      const st = lstatSync(full);
      const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
      return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, type, ...(type === 'symlink' ? { link: readlinkSync(full) } : {}) };
    },
  };
}

/** Entry names of one layer (dirs with a trailing slash), in tar order. */
export async function layerNames(layer: Layer): Promise<string[]> {
  const ex = tar.extract();
  const src = await layer.open();
  const input = /gzip/.test(layer.descriptor.mediaType) ? src.pipe(createGunzip()) : src.pipe(new PassThrough());
  input.pipe(ex);
  const names: string[] = [];
  for await (const e of ex) {
    names.push(e.header.name.replace(/^\.?\//, '').replace(/\/?$/, e.header.type === 'directory' ? '/' : ''));
    e.resume();
  }
  return names;
}
