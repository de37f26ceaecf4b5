import type { Command } from '../command.js';
import { flag } from '../command.js';
import { LayoutStore, RefNotFoundError, copy, errorMessage, isRetriableRegistryError, parseReference, type ReadableStore } from '../../transfer.js';
import { REGISTRY_OPTIONS, TRANSFER_CONCURRENCY, transferProgress, findLocal, layoutRef, openLocalStore, parseLocation, platformFlag, registrySession } from './registry-flags.js';

export const pushCommand: Command = {
  name: 'push',
  usage: '[options] SRC DEST',
  details: [
    'SRC is a name in the local store (as pulled or built), oci:DIR[:TAG] for an OCI layout directory,',
    'or docker://REF for an image in a registry (copied registry to registry; mounted when it is the same one).',
    'DEST is a registry reference; without a tag, :latest.',
    '',
    'Examples:',
    '  slipway push myapp:1.0 registry.example.com/team/myapp:1.0',
    '  slipway push oci:./out:1.0 localhost:5000/myapp:1.0',
  ].join('\n'),
  options: {
    platform: { type: 'string', value: 'OS/ARCH[/VARIANT]', description: 'push only this platform of a multi-platform image (default: every platform)' },
    quiet: { type: 'boolean', short: 'q', description: 'print only the digest' },
    ...REGISTRY_OPTIONS,
  },
  args: { min: 2, max: 2 },
  async run(ctx) {
    const [srcArg, destArg] = ctx.positionals as [string, string];
    const dest = parseReference(destArg);
    const loc = parseLocation(srcArg);
    const session = registrySession(ctx);
    const dst = session.repository(dest, 'push');
    // the registry handshake runs while the source opens
    dst.warm();
    const opened: LayoutStore[] = [];
    try {
      let src: ReadableStore;
      let srcRef: string;
      if (loc.kind === 'layout') {
        const store = await LayoutStore.open(loc.dir, { create: false, name: `oci:${loc.dir}` });
        opened.push(store);
        src = store;
        srcRef = await layoutRef(store, loc.ref, loc.dir);
      } else if (loc.kind === 'registry') {
        src = session.repository(loc.ref, 'pull');
        srcRef = loc.ref.identifier;
      } else {
        const store = await openLocalStore(ctx, false);
        opened.push(store);
        src = store;
        const found = await findLocal(store, loc.name);
        if (found === undefined) throw new RefNotFoundError(loc.name, 'local store', 'pull or build it first, or push oci:DIR[:TAG]');
        srcRef = found;
      }
      const platform = platformFlag(ctx);
      const tag = dest.digest !== undefined && dest.tag === undefined ? undefined : dest.tag ?? 'latest';
      let result;
      for (let attempt = 1; ; attempt++) {
        const progress = transferProgress(ctx, `pushing ${dest.name}`);
        try {
          result = await copy(src, srcRef, dst, tag, { concurrency: TRANSFER_CONCURRENCY, onProgress: progress.onProgress, ...(platform ? { platform } : {}) })
            .finally(progress.done);
          break;
        } catch (e) {
          // an upload the registry could not resume: run again, blobs already there are skipped
          if (attempt >= 3 || !isRetriableRegistryError(e)) throw e;
          ctx.log(`push failed (${errorMessage(e)}); trying again`);
        }
      }
      if (flag(ctx, 'quiet')) ctx.stdout.write(`${result.descriptor.digest}\n`);
      else ctx.stdout.write(`Pushed ${dest.name}${dest.tag ? `:${dest.tag}` : ''}@${result.descriptor.digest} (${result.blobsCopied} blobs written, ${result.blobsSkipped} already there)\n`);
    } finally {
      for (const s of opened) await s.close();
      await session.close();
    }
  },
};
