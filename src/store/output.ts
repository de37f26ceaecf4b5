import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import {
  ANNOTATION_REF_NAME, MediaType, SlipwayError, parseDigest, parseReference,
  type Descriptor, type ImageIndex, type ImageManifest, type Platform,
} from '../oci/index.js';
import { atomicFile } from './atomic-file.js';
import { copy, type CopyEvent } from './copy.js';
import { StoreError } from './errors.js';
import { LayoutStore } from './layout-store.js';
import type { OutputSpec } from './output-spec.js';
import type { ReadableStore } from './store.js';
import { TarBlobWriter } from './tar-writer.js';

/** containerd's (and buildx's) annotation for the full image name in an OCI layout. */
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';

export interface WriteOutputOptions {
  /** Image names (references) to record: the layout tag and `io.containerd.image.name`, docker RepoTags. */
  names?: readonly string[];
  /** OCI outputs: 'all' (default) keeps a whole index. docker: one platform, default the host's. */
  platform?: Platform | 'all' | 'host';
  onProgress?: (e: CopyEvent) => void;
  /** Where `dest=-` writes (the CLI passes stdout). */
  stdout?: Writable;
}

export interface OutputResult {
  type: OutputSpec['type'];
  dest: string;
  /** The manifest or index written. */
  descriptor: Descriptor;
}

export class UnsupportedOutputError extends SlipwayError {
  constructor(spec: OutputSpec, where: string) {
    super('UNSUPPORTED_OUTPUT', `${where} cannot write --output type=${spec.type}`, {
      hint: 'use type=oci (layout dir or tar=true archive) or type=docker,dest=FILE.tar',
      exitCode: 2,
    });
  }
}

/** Layout tag for an image name: its tag (`latest` when it has none); unparseable names are used as they are. */
function layoutTag(name: string): { tag: string; full: string } {
  try {
    const r = parseReference(name);
    return { tag: r.tag ?? 'latest', full: r.toString() };
  } catch {
    return { tag: name, full: name };
  }
}

function indexEntry(desc: Descriptor, name: string | undefined): Descriptor {
  const { platform: _p, annotations: _a, ...plain } = desc;
  if (name === undefined) return plain;
  const { tag, full } = layoutTag(name);
  return { ...plain, annotations: { [ANNOTATION_CONTAINERD_NAME]: full, [ANNOTATION_REF_NAME]: tag } };
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

/**
 * Writes the image to an OCI image layout directory. A new directory appears
 * complete (built beside it, then renamed); into an existing layout the blobs
 * and the tag are added the store's usual atomic way.
 */
export async function writeOciLayoutDir(src: ReadableStore, ref: string | Descriptor, dir: string, opts: WriteOutputOptions = {}): Promise<OutputResult> {
  const names = opts.names ?? [];
  const exists = await isDir(dir);
  const hasLayout = exists && (await stat(join(dir, 'oci-layout')).then(() => true, () => false));
  const empty = exists && !hasLayout && (await readdir(dir)).length === 0;
  if (exists && !hasLayout && !empty) throw new StoreError(`${dir} exists and is not an OCI image layout`, 'choose a new or empty directory, or an existing OCI layout');
  const target = hasLayout ? dir : join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const store = await LayoutStore.open(target, { name: dir });
    const r = await copy(src, ref, store, undefined, { platform: opts.platform ?? 'all', ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
    if (names.length === 0) await store.addUntagged(indexEntry(r.descriptor, undefined));
    for (const n of names) {
      const entry = indexEntry(r.descriptor, n);
      await store.tag(entry, entry.annotations?.[ANNOTATION_REF_NAME] as string);
    }
    await store.close();
    if (!hasLayout) {
      if (empty) await rmdir(dir);
      await rename(target, dir);
    }
    return { type: 'oci', dest: dir, descriptor: r.descriptor };
  } catch (e) {
    if (!hasLayout) await rm(target, { recursive: true, force: true });
    throw e;
  }
}

/** Runs `write` against a file that appears complete or not at all (or against stdout for "-"). */
async function toDest(dest: string | Writable, stdout: Writable | undefined, write: (out: Writable) => Promise<void>): Promise<void> {
  if (typeof dest !== 'string' || dest === '-') {
    const out = typeof dest === 'string' ? stdout : dest;
    if (out === undefined) throw new StoreError('dest=- needs a stdout stream', 'pass WriteOutputOptions.stdout');
    await write(out);
    return;
  }
  const file = atomicFile(dest);
  try {
    await write(file.stream);
    await file.commit();
  } catch (e) {
    await file.abort();
    throw e;
  }
}

async function archive(
  src: ReadableStore, ref: string | Descriptor, dest: string | Writable, opts: WriteOutputOptions,
  platform: WriteOutputOptions['platform'], extra: (w: TarBlobWriter, root: Descriptor) => Promise<void>,
): Promise<Descriptor> {
  let root: Descriptor | undefined;
  const label = typeof dest === 'string' ? dest : 'output stream';
  await toDest(dest, opts.stdout, async (out) => {
    const w = new TarBlobWriter(label, out);
    try {
      await w.addFile('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
      const r = await copy(src, ref, w, undefined, { platform, concurrency: 1, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
      root = r.descriptor;
      const names = opts.names ?? [];
      const manifests = names.length === 0 ? [indexEntry(r.descriptor, undefined)] : names.map((n) => indexEntry(r.descriptor, n));
      const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OCI_INDEX, manifests };
      await w.addFile('index.json', Buffer.from(JSON.stringify(index)));
      await extra(w, r.descriptor);
      await w.finish();
    } catch (e) {
      w.abort(e as Error);
      throw e;
    }
  });
  return root as Descriptor;
}

/** Writes an OCI archive: a tar of an OCI layout, streamed (blobs are never held whole in memory). */
export async function writeOciArchive(src: ReadableStore, ref: string | Descriptor, dest: string | Writable, opts: WriteOutputOptions = {}): Promise<OutputResult> {
  const descriptor = await archive(src, ref, dest, opts, opts.platform ?? 'all', async () => undefined);
  return { type: 'oci', dest: typeof dest === 'string' ? dest : '-', descriptor };
}

function blobPathOf(digest: string): string {
  const { algorithm, hex } = parseDigest(digest);
  return `blobs/${algorithm}/${hex}`;
}

/** `docker load` names: familiar form, `:latest` added, digest-only names dropped. */
function repoTags(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of names) {
    try {
      const r = parseReference(n);
      if (r.tag === undefined) continue;
      out.push(r.withTag(r.tag).familiar());
    } catch {
      /* not a name docker can load */
    }
  }
  return out;
}

/**
 * Writes a docker-archive (`docker save` format, loadable by `docker load` and
 * `podman load`): manifest.json + repositories + config + layers. The layers
 * keep their stored compression (both loaders decompress), and the file is also
 * a valid OCI layout (oci-layout + index.json), as docker 25+ writes it.
 * One platform: an index is narrowed to `platform` (default: the host's).
 */
export async function writeDockerArchive(src: ReadableStore, ref: string | Descriptor, dest: string | Writable, opts: WriteOutputOptions = {}): Promise<OutputResult> {
  const platform = opts.platform === undefined || opts.platform === 'all' ? 'host' : opts.platform;
  const tags = repoTags(opts.names ?? []);
  const descriptor = await archive(src, ref, dest, opts, platform, async (w, root) => {
    const manifest = JSON.parse((await src.fetchBytes(root)).toString('utf8')) as ImageManifest;
    const layers = manifest.layers.map((l) => blobPathOf(l.digest));
    const entry = { Config: blobPathOf(manifest.config.digest), RepoTags: tags, Layers: layers };
    await w.addFile('manifest.json', Buffer.from(JSON.stringify([entry])));
    const top = manifest.layers.at(-1);
    if (tags.length > 0 && top !== undefined) {
      const repos: Record<string, Record<string, string>> = {};
      for (const t of tags) {
        const i = t.lastIndexOf(':');
        (repos[t.slice(0, i)] ??= {})[t.slice(i + 1)] = parseDigest(top.digest).hex;
      }
      await w.addFile('repositories', Buffer.from(JSON.stringify(repos)));
    }
  });
  return { type: 'docker', dest: typeof dest === 'string' ? dest : '-', descriptor };
}

/** Writes `ref` from `src` as `spec` says (types oci and docker; others belong to the build or registry code). */
export function writeOutput(src: ReadableStore, ref: string | Descriptor, spec: OutputSpec, opts: WriteOutputOptions = {}): Promise<OutputResult> {
  const o: WriteOutputOptions = { ...opts, names: [...spec.names, ...(opts.names ?? [])] };
  const dest = spec.dest as string;
  if (spec.type === 'oci') return spec.tar ? writeOciArchive(src, ref, dest, o) : writeOciLayoutDir(src, ref, dest, o);
  if (spec.type === 'docker') return writeDockerArchive(src, ref, dest, o);
  return Promise.reject(new UnsupportedOutputError(spec, 'the store'));
}
