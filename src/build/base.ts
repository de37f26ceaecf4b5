import { link, lstat, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SlipwayError, errorMessage, parseReference, type Descriptor, type Platform } from '../oci/index.js';
import { Image, loadImage, storedLayer } from '../image/index.js';
import { LayoutStore, RegistrySession, copy } from '../store/index.js';
import type { BuildEvent } from './options.js';

const run = promisify(execFile);

export class BaseImageError extends SlipwayError {
  constructor(ref: string, where: string, cause: unknown) {
    super('BASE_IMAGE', `${where}: cannot use base image "${ref}": ${errorMessage(cause)}`, {
      hint: 'check the name and tag, that the registry is reachable, and your login (slipway login HOST)',
      cause,
    });
  }
}

/** The same image (its verified bytes in hand), its layers read from `store`, which holds them. */
function inStore(img: Image, store: LayoutStore): Image {
  return Image.fromStored({
    manifest: img.manifest,
    manifestBytes: img.manifestBytes,
    manifestMediaType: img.mediaType,
    config: img.config,
    configBytes: img.configBytes,
    layers: img.layers.map((l) => storedLayer(store, l.descriptor, l.diffId)),
  });
}

export interface BaseResolver {
  resolve(ref: string, platform: Platform, where: string): Promise<Image>;
  close(): Promise<void>;
}

/**
 * Resolves FROM / COPY --from image references: `oci:DIR[:tag]`,
 * `oci-archive:FILE[:tag]`, or a registry reference pulled once into the local
 * store (`pull` re-resolves the tag every build). Each reference is resolved
 * once per build, however many stages use it.
 */
export function createBaseResolver(opts: {
  store: LayoutStore;
  session: RegistrySession;
  pull: boolean;
  tmpDir: string;
  emit: (e: BuildEvent) => void;
}): BaseResolver {
  const memo = new Map<string, Promise<Image>>();
  const opened: LayoutStore[] = [];
  const temps: string[] = [];

  /**
   * Layer blobs of a local layout (a user's oci: dir, or the temp dir an oci-archive was
   * extracted into) go into the store by hard link instead of a byte copy: adoptFile still
   * reads each through a digest check and fsyncs it before the rename, so the store gets the
   * same verified blob without writing it a second time. A blob that cannot be linked
   * (another filesystem, not a regular file, permissions) is left to copy().
   */
  async function adoptLayers(layout: LayoutStore, img: Image): Promise<void> {
    await mkdir(opts.tmpDir, { recursive: true });
    const one = async (desc: Descriptor): Promise<void> => {
      if (await opts.store.exists(desc)) return;
      const tmp = join(opts.tmpDir, `base-${process.pid}-${randomBytes(6).toString('hex')}`);
      try {
        await link(layout.blobPath(desc.digest), tmp);
        // a hard link to a symlink is a symlink: only a regular file of the right size is adopted
        const st = await lstat(tmp);
        if (st.isFile() && st.size === desc.size) await opts.store.adoptFile(desc, tmp, { hashedWhileWritten: false });
      } catch {
        /* copy() copies it (and reports what is wrong with it) */
      } finally {
        await rm(tmp, { force: true });
      }
    };
    const layers = img.layers.map((l) => l.descriptor);
    for (let i = 0; i < layers.length; i += 4) await Promise.all(layers.slice(i, i + 4).map(one));
  }

  async function fromLayout(dir: string, tag: string | undefined, platform: Platform): Promise<Image> {
    const layout = await LayoutStore.open(dir, { create: false, name: `oci:${dir}` });
    opened.push(layout);
    let ref = tag;
    if (ref === undefined) {
      const entries = await layout.list();
      if (entries.length !== 1) throw new Error(`${dir} holds ${entries.length} images; name one with :TAG`);
      ref = (entries[0] as { descriptor: { digest: string } }).descriptor.digest;
    }
    const img = await loadImage(layout, ref, { platform });
    // its blobs go into the local store so layers outlive the layout and are shared; the
    // manifest there means the whole image is (copy writes it last): nothing to copy or read again
    if (!(await opts.store.exists(img.descriptor))) {
      await adoptLayers(layout, img);
      await copy(layout, img.descriptor, opts.store, undefined);
    }
    return inStore(img, opts.store);
  }

  function splitTag(rest: string): [string, string | undefined] {
    const slash = rest.lastIndexOf('/');
    const colon = rest.lastIndexOf(':');
    if (colon > slash && colon > 0) return [rest.slice(0, colon), rest.slice(colon + 1) || undefined];
    return [rest, undefined];
  }

  async function resolveOnce(ref: string, platform: Platform): Promise<Image> {
    if (ref.startsWith('oci:')) {
      const [dir, tag] = splitTag(ref.slice(4));
      return fromLayout(dir, tag, platform);
    }
    if (ref.startsWith('oci-archive:')) {
      const [file, tag] = splitTag(ref.slice('oci-archive:'.length));
      await stat(file);
      const dir = await mkdtemp(join(opts.tmpDir, `oci-archive-${process.pid}-`));
      temps.push(dir);
      await run('tar', ['-xf', file, '-C', dir]);
      return fromLayout(dir, tag, platform);
    }
    const parsed = parseReference(ref);
    const name = parsed.toString();
    if (!opts.pull) {
      try {
        const img = await loadImage(opts.store, name, { platform });
        opts.emit({ type: 'pull', ref: name, status: 'cached', digest: img.digest });
        return img;
      } catch {
        /* not stored yet */
      }
    }
    opts.emit({ type: 'pull', ref: name, status: 'start' });
    const remote = opts.session.repository(parsed, 'pull');
    const result = await copy(remote, parsed.identifier, opts.store, name, { platform });
    const img = await loadImage(opts.store, result.descriptor, { platform });
    opts.emit({ type: 'pull', ref: name, status: 'done', digest: img.digest });
    return img;
  }

  return {
    resolve(ref, platform, where) {
      const key = `${ref}\0${platform.os}/${platform.architecture}/${platform.variant ?? ''}`;
      let p = memo.get(key);
      if (!p) {
        p = resolveOnce(ref, platform).catch((e: unknown) => {
          throw new BaseImageError(ref, where, e);
        });
        memo.set(key, p);
      }
      return p;
    },
    async close() {
      await Promise.all(opened.map((l) => l.close()));
      await Promise.all(temps.map((t) => rm(t, { recursive: true, force: true })));
    },
  };
}
