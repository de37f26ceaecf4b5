import type { Command } from '../command.js';
import { str } from '../command.js';
import { UsageError, parseOutputSpec, writeOutput } from '../../index.js';
import { selectLocalNames } from './local-images.js';
import { PLATFORM_OPTION, openLocalStore, platformFlag } from './registry-flags.js';

export const saveCommand: Command = {
  name: 'save',
  usage: '[options] REF --output SPEC',
  details: [
    'SPEC uses the docker buildx --output syntax:',
    '  type=oci,dest=DIR             OCI image layout directory (added to an existing layout)',
    '  type=oci,dest=FILE.tar        OCI archive (also tar=true); dest=- writes to stdout',
    '  type=docker,dest=FILE.tar     docker-archive for "docker load" / "podman load"',
    '  name=REF                      extra names to record (RepoTags / io.containerd.image.name)',
    'An output appears complete or not at all. A multi-platform image is kept whole in OCI',
    'outputs and narrowed to --platform (default: this host) for type=docker.',
    '',
    'Examples:',
    '  slipway save busybox --output type=oci,dest=./busybox-layout',
    '  slipway save myapp:1 -o type=docker,dest=myapp.tar && docker load -i myapp.tar',
  ].join('\n'),
  options: {
    output: { type: 'string', short: 'o', value: 'SPEC', description: 'where and how to write (buildx syntax, see below)' },
    ...PLATFORM_OPTION,
  },
  args: { min: 1, max: 1 },
  async run(ctx) {
    const specText = str(ctx, 'output');
    if (specText === undefined) throw new UsageError('save: --output is required', 'e.g. --output type=oci,dest=out.tar');
    const spec = parseOutputSpec(specText);
    const store = await openLocalStore(ctx);
    try {
      const [name] = (await selectLocalNames(store, ctx.positionals[0] as string)) as [string];
      const platform = platformFlag(ctx);
      const r = await writeOutput(store, name, spec, { names: [name], stdout: ctx.stdout, ...(platform ? { platform } : {}) });
      if (r.dest !== '-') ctx.stderr.write(`Wrote ${name} (${r.descriptor.digest}) to ${r.dest}\n`);
    } finally {
      await store.close();
    }
  },
};
