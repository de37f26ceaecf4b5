import {
  MediaType, digestOf, hostPlatform,
  type Annotations, type Descriptor, type Digest, type History, type ImageConfig, type ImageManifest, type Platform,
} from '../oci/index.js';
import type { Layer } from './layer.js';
import { ociLayerDescriptor } from './layers.js';

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

interface ImageState {
  readonly config: ImageConfig;
  readonly layers: readonly Layer[];
  readonly annotations: Annotations | undefined;
  readonly subject: Descriptor | undefined;
  /** Exact bytes of a loaded image (kept so its digests stay what the registry says). */
  readonly configBytes: Buffer | undefined;
  readonly configMediaType: string;
  readonly manifest: ImageManifest | undefined;
  readonly manifestBytes: Buffer | undefined;
  readonly manifestMediaType: string;
}

/**
 * An immutable image: config, layers, and the manifest that ties them
 * together. Loaded images keep their exact manifest and config bytes; derived
 * images (append, withConfig, ...) compute OCI manifest and config bytes once,
 * on first use. Nothing here does IO except through the layers' openers.
 */
export class Image {
  private cachedConfigBytes: Buffer | undefined;
  private cachedManifest: ImageManifest | undefined;
  private cachedManifestBytes: Buffer | undefined;

  private constructor(private readonly s: ImageState) {
    this.cachedConfigBytes = s.configBytes;
    this.cachedManifest = s.manifest;
    this.cachedManifestBytes = s.manifestBytes;
  }

  /** An image exactly as stored: its bytes are kept, so digest and id do not change. */
  static fromStored(parts: { manifest: ImageManifest; manifestBytes: Buffer; manifestMediaType: string; config: ImageConfig; configBytes: Buffer; layers: readonly Layer[] }): Image {
    return new Image({
      config: deepFreeze(parts.config),
      layers: Object.freeze([...parts.layers]),
      annotations: parts.manifest.annotations,
      subject: parts.manifest.subject,
      configBytes: parts.configBytes,
      configMediaType: parts.manifest.config.mediaType,
      manifest: deepFreeze(parts.manifest),
      manifestBytes: parts.manifestBytes,
      manifestMediaType: parts.manifestMediaType,
    });
  }

  /** A new OCI image from a config and layers (config.rootfs.diff_ids is set from the layers). */
  static create(config: ImageConfig, layers: readonly Layer[] = [], annotations?: Annotations): Image {
    const cfg = structuredClone(config);
    cfg.rootfs = { type: 'layers', diff_ids: layers.map((l) => l.diffId) };
    return new Image({
      config: deepFreeze(cfg), layers: Object.freeze([...layers]), annotations, subject: undefined,
      configBytes: undefined, configMediaType: MediaType.OCI_CONFIG,
      manifest: undefined, manifestBytes: undefined, manifestMediaType: MediaType.OCI_MANIFEST,
    });
  }

  /** `FROM scratch`: no layers, an empty config for `platform` (default: the host's). */
  static scratch(platform: Platform = hostPlatform()): Image {
    const config: ImageConfig = { architecture: platform.architecture, os: platform.os, config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] };
    if (platform.variant !== undefined) config.variant = platform.variant;
    return Image.create(config);
  }

  /** A derived image: manifest and config bytes are recomputed, media types become OCI. */
  private derive(change: Partial<Pick<ImageState, 'config' | 'layers' | 'annotations'>>): Image {
    const configChanged = change.config !== undefined || change.layers !== undefined;
    return new Image({
      config: change.config !== undefined ? deepFreeze(change.config) : this.s.config,
      layers: change.layers !== undefined ? Object.freeze([...change.layers]) : this.s.layers,
      annotations: 'annotations' in change ? change.annotations : this.s.annotations,
      subject: undefined,
      configBytes: configChanged ? undefined : this.configBytes,
      configMediaType: configChanged ? MediaType.OCI_CONFIG : this.configDescriptor.mediaType,
      manifest: undefined,
      manifestBytes: undefined,
      manifestMediaType: MediaType.OCI_MANIFEST,
    });
  }

  /** The config (frozen; use withConfig to change it). */
  get config(): Readonly<ImageConfig> {
    return this.s.config;
  }

  get layers(): readonly Layer[] {
    return this.s.layers;
  }

  get diffIds(): readonly Digest[] {
    return this.s.config.rootfs.diff_ids;
  }

  get platform(): Platform {
    const p: Platform = { os: this.s.config.os, architecture: this.s.config.architecture };
    if (this.s.config.variant !== undefined) p.variant = this.s.config.variant;
    if (this.s.config['os.version'] !== undefined) p['os.version'] = this.s.config['os.version'];
    return p;
  }

  get configBytes(): Buffer {
    this.cachedConfigBytes ??= Buffer.from(JSON.stringify(this.s.config));
    return this.cachedConfigBytes;
  }

  get configDescriptor(): Descriptor {
    const bytes = this.configBytes;
    return { mediaType: this.s.configMediaType, digest: digestOf(bytes), size: bytes.length };
  }

  /** The image ID: digest of the config bytes (what `docker images` shows). */
  get id(): Digest {
    return this.configDescriptor.digest;
  }

  get manifest(): ImageManifest {
    if (this.cachedManifest === undefined) {
      const m: ImageManifest = {
        schemaVersion: 2,
        mediaType: MediaType.OCI_MANIFEST,
        config: this.configDescriptor,
        layers: this.s.layers.map((l) => ociLayerDescriptor(l.descriptor)),
      };
      if (this.s.annotations !== undefined && Object.keys(this.s.annotations).length > 0) m.annotations = { ...this.s.annotations };
      this.cachedManifest = deepFreeze(m);
    }
    return this.cachedManifest;
  }

  get manifestBytes(): Buffer {
    this.cachedManifestBytes ??= Buffer.from(JSON.stringify(this.manifest));
    return this.cachedManifestBytes;
  }

  get mediaType(): string {
    return this.s.manifestMediaType;
  }

  /** Descriptor of the manifest, with the platform, as an index entry would carry it. */
  get descriptor(): Descriptor {
    const bytes = this.manifestBytes;
    return { mediaType: this.s.manifestMediaType, digest: digestOf(bytes), size: bytes.length, platform: this.platform };
  }

  get digest(): Digest {
    return this.descriptor.digest;
  }

  /**
   * A new image with `layer` on top: its diffID joins rootfs.diff_ids and, when
   * the config has a history array (or `history` is given), a history entry is
   * added, so history keeps one non-empty entry per layer.
   */
  append(layer: Layer, history?: Omit<History, 'empty_layer'>): Image {
    const config = structuredClone(this.s.config) as ImageConfig;
    config.rootfs = { type: 'layers', diff_ids: [...config.rootfs.diff_ids, layer.diffId] };
    if (history !== undefined || config.history !== undefined) {
      config.history = [...(config.history ?? []), { ...(history ?? {}) }];
    }
    return this.derive({ config, layers: [...this.s.layers, layer] });
  }

  /** A history entry for a step that made no layer (ENV, LABEL, ...). */
  appendEmptyHistory(history: Omit<History, 'empty_layer'>): Image {
    const config = structuredClone(this.s.config) as ImageConfig;
    config.history = [...(config.history ?? []), { ...history, empty_layer: true }];
    return this.derive({ config });
  }

  /**
   * A new image with a changed config. `update` gets a mutable copy; rootfs is
   * always kept in step with the layers.
   */
  withConfig(update: ImageConfig | ((config: ImageConfig) => ImageConfig | void)): Image {
    let config: ImageConfig;
    if (typeof update === 'function') {
      const copy = structuredClone(this.s.config) as ImageConfig;
      config = update(copy) ?? copy;
    } else {
      config = structuredClone(update);
    }
    config.rootfs = { type: 'layers', diff_ids: this.s.layers.map((l) => l.diffId) };
    return this.derive({ config });
  }

  /** A new image whose manifest carries `annotations` (replacing the old ones; undefined removes them). */
  withAnnotations(annotations: Annotations | undefined): Image {
    return this.derive({ annotations: annotations === undefined ? undefined : { ...annotations } });
  }
}
