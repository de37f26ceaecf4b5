import { isIndex, isManifest, type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../oci/index.js';
import type { LayoutStore } from './layout-store.js';

/** One named image of a layout store, as `slipway images` shows it. */
export interface ImageSummary {
  /** The name (for the local store: a full reference). */
  ref: string;
  /** Digest of the manifest or index the name points at. */
  digest: string;
  mediaType: string;
  /** Bytes of every blob the image holds, shared blobs counted once (manifests, configs, layers). */
  size: number;
  /** The config's `created` (latest of the platforms for an index). */
  created: string | undefined;
  platforms: Platform[];
}

/**
 * Summaries of the named images in `store`, sorted by name. Images with a
 * missing or unreadable manifest are still listed (size of what is there).
 */
export async function listImageSummaries(store: LayoutStore): Promise<ImageSummary[]> {
  const out: ImageSummary[] = [];
  for (const e of await store.list()) {
    if (e.ref === undefined) continue;
    const seen = new Map<string, number>();
    const platforms: Platform[] = [];
    let created: string | undefined;
    const walk = async (d: Descriptor): Promise<void> => {
      if (seen.has(d.digest)) return;
      seen.set(d.digest, d.size);
      if (!isManifest(d.mediaType) && !isIndex(d.mediaType)) return;
      let obj: Partial<ImageManifest & ImageIndex>;
      try {
        obj = JSON.parse((await store.fetchBytes(d)).toString('utf8')) as Partial<ImageManifest & ImageIndex>;
      } catch {
        return;
      }
      for (const m of obj.manifests ?? []) await walk(m);
      if (obj.config !== undefined) {
        seen.set(obj.config.digest, obj.config.size);
        for (const l of obj.layers ?? []) seen.set(l.digest, l.size);
        try {
          const cfg = JSON.parse((await store.fetchBytes(obj.config)).toString('utf8')) as ImageConfig;
          const p: Platform = { os: cfg.os, architecture: cfg.architecture };
          if (cfg.variant !== undefined) p.variant = cfg.variant;
          platforms.push(p);
          if (cfg.created !== undefined && (created === undefined || cfg.created > created)) created = cfg.created;
        } catch {
          /* config missing: list without it */
        }
      }
    };
    await walk(e.descriptor);
    const size = [...seen.values()].reduce((a, b) => a + b, 0);
    out.push({ ref: e.ref, digest: e.descriptor.digest, mediaType: e.descriptor.mediaType, size, created, platforms });
  }
  return out.sort((a, b) => a.ref.localeCompare(b.ref));
}
