import type { Command } from '../command.js';
import { flag } from '../command.js';
import {
  LayoutStore,
  isIndex,
  parseReference,
  selectManifest,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type ReadableStore,
} from '../../transfer.js';
import { PLATFORM_OPTION, REGISTRY_OPTIONS, findLocal, layoutRef, openLocalStore, parseLocation, platformFlag, registrySession } from './registry-flags.js';

export const inspectCommand: Command = {
  name: 'inspect',
  usage: '[options] REF',
  details: [
    'REF is a name in the local store, oci:DIR[:TAG], docker://REF, or a registry reference',
    '(a name not in the local store is looked up in its registry).',
    'For a multi-platform image the index is shown; --platform shows that platform\'s manifest and config.',
    '--raw prints the manifest (or index) bytes exactly as stored.',
  ].join('\n'),
  options: {
    ...PLATFORM_OPTION,
    raw: { type: 'boolean', description: 'print the manifest bytes as stored, nothing else' },
    ...REGISTRY_OPTIONS,
  },
  args: { min: 1, max: 1 },
  async run(ctx) {
    const arg = ctx.positionals[0] as string;
    const loc = parseLocation(arg);
    const session = registrySession(ctx);
    const opened: LayoutStore[] = [];
    try {
      let src: ReadableStore | undefined;
      let ref: string | undefined;
      let name = arg;
      if (loc.kind === 'layout') {
        const store = await LayoutStore.open(loc.dir, { create: false, name: `oci:${loc.dir}` });
        opened.push(store);
        src = store;
        ref = await layoutRef(store, loc.ref, loc.dir);
      } else if (loc.kind === 'local') {
        // no local store yet: the name can only be a registry reference
        const store = await openLocalStore(ctx, false).catch(() => undefined);
        if (store) opened.push(store);
        const found = store ? await findLocal(store, loc.name) : undefined;
        if (store && found !== undefined) {
          src = store;
          ref = found;
          name = found;
        }
      }
      if (src === undefined || ref === undefined) {
        const r = loc.kind === 'registry' ? loc.ref : parseReference(arg);
        src = session.repository(r, 'pull');
        ref = r.identifier;
        name = r.toString();
      }
      let desc: Descriptor = await src.resolve(ref);
      let bytes = await src.fetchBytes(desc);
      const platform = platformFlag(ctx);
      while (platform && isIndex(desc.mediaType)) {
        const idx = JSON.parse(bytes.toString('utf8')) as ImageIndex;
        desc = selectManifest(idx.manifests, platform, `${src.name} ${ref}`);
        bytes = await src.fetchBytes(desc);
      }
      if (flag(ctx, 'raw')) {
        ctx.stdout.write(bytes);
        return;
      }
      const out: Record<string, unknown> = { name, digest: desc.digest, mediaType: desc.mediaType, size: desc.size };
      if (isIndex(desc.mediaType)) {
        out['index'] = JSON.parse(bytes.toString('utf8')) as ImageIndex;
      } else {
        const manifest = JSON.parse(bytes.toString('utf8')) as ImageManifest;
        out['manifest'] = manifest;
        if (manifest.config) out['config'] = JSON.parse((await src.fetchBytes(manifest.config)).toString('utf8')) as unknown;
      }
      ctx.stdout.write(JSON.stringify(out, null, 2) + '\n');
    } finally {
      for (const s of opened) await s.close();
      await session.close();
    }
  },
};
