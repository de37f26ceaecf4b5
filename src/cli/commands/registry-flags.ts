import type { CommandContext, OptionSpec } from '../command.js';
import { list, str } from '../command.js';
import {
  LayoutStore,
  RegistrySession,
  UsageError,
  defaultBlobSourcesFile,
  formatRegistryEvent,
  loadRegistriesConfig,
  localStoreRoot,
  parsePlatform,
  parseReference,
  storePaths,
  type CopyEvent,
  type Platform,
  type Reference,
} from '../../transfer.js';

/** Flags every registry command takes. */
export const REGISTRY_OPTIONS: Record<string, OptionSpec> = {
  'tls-ca': { type: 'string', multiple: true, value: 'FILE', description: 'trust this CA certificate (PEM) for registry TLS, besides the system CAs' },
  'insecure-registry': { type: 'string', multiple: true, value: 'HOST[:PORT]', description: 'allow plain HTTP (or unverified TLS) for this registry' },
};

export const PLATFORM_OPTION: Record<string, OptionSpec> = {
  platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'platform to pick from a multi-platform image (default: this host)' },
};

/** Blobs moved at once by pull and push (skopeo's default is 6 too). */
export const TRANSFER_CONCURRENCY = 6;

/** A RegistrySession configured from flags, the registries config file and the environment. */
export function registrySession(ctx: CommandContext): RegistrySession {
  const config = loadRegistriesConfig(ctx.env);
  return new RegistrySession({
    env: ctx.env,
    insecureRegistries: [...config.insecure, ...list(ctx, 'insecure-registry')],
    tlsCaFiles: list(ctx, 'tls-ca'),
    mirrors: config.mirrors,
    blobSourcesFile: defaultBlobSourcesFile(ctx.env),
    onEvent: (e) => ctx.log(formatRegistryEvent(e)),
  });
}

export function platformFlag(ctx: CommandContext): Platform | undefined {
  const p = str(ctx, 'platform');
  return p === undefined ? undefined : parsePlatform(p);
}

/** The local store (OCI layout under --root / $XDG_DATA_HOME/slipway). */
export function openLocalStore(ctx: CommandContext, create = true): Promise<LayoutStore> {
  const root = localStoreRoot(ctx.env, str(ctx, 'root'));
  return LayoutStore.open(storePaths(root).oci, { create, name: 'local store' });
}

/** The name an image has in the local store: the full reference (docker.io/library/busybox:latest). */
export function localName(ref: Reference): string {
  return ref.toString();
}

export type ImageLocation =
  | { kind: 'layout'; dir: string; ref: string | undefined }
  | { kind: 'registry'; ref: Reference }
  | { kind: 'local'; name: string };

/**
 * `oci:DIR[:TAG]` -> an OCI layout directory; `docker://REF` -> a registry; anything else is
 * a local store name (or, where `fallbackRegistry` allows, a registry reference).
 */
export function parseLocation(value: string): ImageLocation {
  if (value.startsWith('oci:')) {
    const rest = value.slice(4);
    if (rest === '') throw new UsageError(`"${value}": missing directory after oci:`, 'use oci:DIR or oci:DIR:TAG');
    const slash = rest.lastIndexOf('/');
    const colon = rest.lastIndexOf(':');
    if (colon > slash && colon > 0) return { kind: 'layout', dir: rest.slice(0, colon), ref: rest.slice(colon + 1) || undefined };
    return { kind: 'layout', dir: rest, ref: undefined };
  }
  if (value.startsWith('docker://')) return { kind: 'registry', ref: parseReference(value.slice('docker://'.length)) };
  return { kind: 'local', name: value };
}

/** The ref to use inside an OCI layout: the given tag, or the only image in it. */
export async function layoutRef(store: LayoutStore, ref: string | undefined, dir: string): Promise<string> {
  if (ref !== undefined) return ref;
  const entries = await store.list();
  if (entries.length === 1) return (entries[0] as { descriptor: { digest: string } }).descriptor.digest;
  throw new UsageError(`oci:${dir} holds ${entries.length} images; name one with oci:${dir}:TAG`,
    `tags: ${entries.map((e) => e.ref).filter((r) => r !== undefined).join(', ') || 'none'}`);
}

/** Finds `name` in the local store as given or as a normalized reference. Undefined when absent. */
export async function findLocal(store: LayoutStore, name: string): Promise<string | undefined> {
  const candidates = [name];
  try {
    candidates.push(parseReference(name).toString());
  } catch {
    /* not a reference: only the literal name */
  }
  const entries = await store.list();
  for (const c of candidates) if (entries.some((e) => e.ref === c)) return c;
  return undefined;
}

/**
 * Copy progress for pull/push: on a terminal one self-updating stderr line
 * ("pushing: 3/7 blobs, 120.5 MB"); --debug adds a line per finished blob; otherwise silent.
 */
export function transferProgress(ctx: CommandContext, verb: string): { onProgress: (e: CopyEvent) => void; done: () => void } {
  const tty = (ctx.stderr as { isTTY?: boolean }).isTTY === true && ctx.env['CI'] !== 'true' && !ctx.debug;
  let started = 0;
  let finished = 0;
  let bytes = 0;
  const perBlob = new Map<string, number>();
  let last = 0;
  const draw = (force = false) => {
    const now = Date.now();
    if (!tty || (!force && now - last < 100)) return;
    last = now;
    ctx.stderr.write(`\r\x1b[K${verb}: ${finished}/${started} blobs, ${(bytes / 1048576).toFixed(1)} MB`);
  };
  return {
    onProgress(e) {
      if (e.type === 'blob-started') started++;
      else if (e.type === 'blob-progress') {
        bytes += e.bytes - (perBlob.get(e.descriptor.digest) ?? 0);
        perBlob.set(e.descriptor.digest, e.bytes);
      } else if (e.type === 'blob-done' || e.type === 'blob-skipped') {
        if (e.type === 'blob-done') finished++;
        ctx.log(`${e.type === 'blob-done' ? 'copied' : 'already present'} ${e.descriptor.digest} (${e.descriptor.size} bytes)`);
      }
      draw();
    },
    done() {
      if (tty && started > 0) {
        draw(true);
        ctx.stderr.write('\n');
      }
    },
  };
}
