import type { Command } from '../command.js';
import { flag, list } from '../command.js';
import { copy, parseOutputSpec, parseReference, writeOutput, type CopyOptions } from '../../transfer.js';
import { PLATFORM_OPTION, REGISTRY_OPTIONS, TRANSFER_CONCURRENCY, localName, transferProgress, openLocalStore, platformFlag, registrySession } from './registry-flags.js';

export const pullCommand: Command = {
  name: 'pull',
  usage: '[options] REF',
  details: [
    'REF is [registry[:port]/]repository[:tag][@digest]; docker.io/library/ is the default.',
    'From a multi-platform image the host platform (or --platform) is pulled; --all-platforms keeps the index.',
    '',
    'Examples:',
    '  slipway pull busybox',
    '  slipway pull --platform linux/arm64 localhost:5000/app:1.0',
    '  slipway pull -o type=oci,dest=./app-layout localhost:5000/app:1.0',
  ].join('\n'),
  options: {
    ...PLATFORM_OPTION,
    'all-platforms': { type: 'boolean', description: 'pull every platform of a multi-platform image' },
    output: { type: 'string', short: 'o', multiple: true, value: 'type=oci|docker,dest=PATH', description: 'also write the pulled image there (oci: layout dir, or archive with tar=true or a .tar dest; docker: docker-archive)' },
    quiet: { type: 'boolean', short: 'q', description: 'print only the digest' },
    ...REGISTRY_OPTIONS,
  },
  args: { min: 1, max: 1 },
  async run(ctx) {
    const ref = parseReference(ctx.positionals[0] as string);
    const platform: CopyOptions['platform'] = flag(ctx, 'all-platforms') ? 'all' : (platformFlag(ctx) ?? 'host');
    const outputs = list(ctx, 'output').map(parseOutputSpec);
    const session = registrySession(ctx);
    const remote = session.repository(ref, 'pull');
    // the registry handshake and the manifest GET run while the local store opens (copy()
    // below gets that answer; a failure is reported by copy())
    remote.resolveAhead(ref.identifier);
    const local = await openLocalStore(ctx).catch(async (e: unknown) => {
      await session.close();
      throw e;
    });
    try {
      const name = localName(ref);
      const progress = transferProgress(ctx, `pulling ${name}`);
      const result = await copy(remote, ref.identifier, local, name, { platform, concurrency: TRANSFER_CONCURRENCY, onProgress: progress.onProgress })
        .finally(progress.done);
      for (const spec of outputs) {
        const out = await writeOutput(local, result.descriptor, spec, { names: [name], stdout: ctx.stdout });
        ctx.log(`wrote ${out.type} output ${out.dest}`);
      }
      // an archive written to stdout owns stdout: the summary goes to stderr then
      const say = outputs.some((o) => o.dest === '-') ? ctx.stderr : ctx.stdout;
      if (flag(ctx, 'quiet')) say.write(`${result.descriptor.digest}\n`);
      else say.write(`Pulled ${name} (${result.descriptor.digest}, ${result.blobsCopied} blobs copied, ${result.blobsSkipped} present)\n`);
    } finally {
      await local.close();
      await session.close();
    }
  },
};
