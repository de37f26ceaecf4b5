import type { Command } from '../command.js';
import { flag } from '../command.js';
import { copy, parseReference, type CopyOptions } from '../../index.js';
import { PLATFORM_OPTION, REGISTRY_OPTIONS, localName, openLocalStore, platformFlag, registrySession } from './registry-flags.js';

export const pullCommand: Command = {
  name: 'pull',
  summary: 'pull an image from a registry into the local store',
  usage: '[options] REF',
  details: [
    'REF is [registry[:port]/]repository[:tag][@digest]; docker.io/library/ is the default.',
    'From a multi-platform image the host platform (or --platform) is pulled; --all-platforms keeps the index.',
    '',
    'Examples:',
    '  slipway pull busybox',
    '  slipway pull --platform linux/arm64 localhost:5000/app:1.0',
  ].join('\n'),
  options: {
    ...PLATFORM_OPTION,
    'all-platforms': { type: 'boolean', description: 'pull every platform of a multi-platform image' },
    quiet: { type: 'boolean', short: 'q', description: 'print only the digest' },
    ...REGISTRY_OPTIONS,
  },
  args: { min: 1, max: 1 },
  async run(ctx) {
    const ref = parseReference(ctx.positionals[0] as string);
    const platform: CopyOptions['platform'] = flag(ctx, 'all-platforms') ? 'all' : (platformFlag(ctx) ?? 'host');
    const session = registrySession(ctx);
    const local = await openLocalStore(ctx);
    try {
      const remote = session.repository(ref, 'pull');
      const name = localName(ref);
      const result = await copy(remote, ref.identifier, local, name, {
        platform,
        onProgress: (e) => {
          if (e.type === 'blob-done' || e.type === 'blob-skipped') ctx.log(`${e.type} ${e.descriptor.digest}`);
        },
      });
      if (flag(ctx, 'quiet')) ctx.stdout.write(`${result.descriptor.digest}\n`);
      else ctx.stdout.write(`Pulled ${name} (${result.descriptor.digest}, ${result.blobsCopied} blobs copied, ${result.blobsSkipped} present)\n`);
    } finally {
      await local.close();
      await session.close();
    }
  },
};
