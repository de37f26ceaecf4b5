import type { Command } from '../command.js';
import { UsageError, parseReference } from '../../index.js';
import { selectLocalNames } from './local-images.js';
import { openLocalStore } from './registry-flags.js';

export const tagCommand: Command = {
  name: 'tag',
  usage: 'SOURCE TARGET [TARGET...]',
  details: [
    'SOURCE is a name in the local store or a digest (prefix of 12+ hex); TARGET is [registry/]repository[:tag].',
    '',
    'Example:',
    '  slipway tag busybox localhost:5000/tools/busybox:1',
  ].join('\n'),
  options: {},
  args: { min: 2, max: 64 },
  async run(ctx) {
    const [source, ...targets] = ctx.positionals as [string, ...string[]];
    const names = targets.map((t) => {
      const r = parseReference(t);
      if (r.digest !== undefined) throw new UsageError(`tag: target "${t}" has a digest`, 'a tag target is [registry/]repository[:tag]');
      return r.toString();
    });
    const store = await openLocalStore(ctx);
    try {
      const [src] = await selectLocalNames(store, source);
      const desc = await store.resolve(src as string);
      for (const n of names) {
        await store.tag(desc, n);
        ctx.log(`tagged ${n} -> ${desc.digest}`);
      }
    } finally {
      await store.close();
    }
  },
};
