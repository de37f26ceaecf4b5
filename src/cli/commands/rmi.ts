import type { Command } from '../command.js';
import { SlipwayError, errorMessage } from '../../index.js';
import { formatSize, selectLocalNames } from './local-images.js';
import { openLocalStore } from './registry-flags.js';

export const rmiCommand: Command = {
  name: 'rmi',
  usage: 'REF [REF...]',
  details: [
    'REF is a name in the local store, or a digest (prefix of 12+ hex) to remove every name of that image.',
    'Blobs no other image uses are deleted; while another slipway process writes to the store they are kept for a later rmi.',
  ].join('\n'),
  options: {},
  args: { min: 1, max: 256 },
  async run(ctx) {
    const store = await openLocalStore(ctx);
    let failed = 0;
    try {
      for (const arg of ctx.positionals) {
        try {
          for (const name of await selectLocalNames(store, arg)) {
            await store.untag(name);
            ctx.stdout.write(`Untagged: ${name}\n`);
          }
        } catch (e) {
          failed++;
          ctx.stderr.write(`Error: ${errorMessage(e)}\n`);
        }
      }
      const gc = await store.gc();
      if (gc.deferred) ctx.stdout.write('Blobs kept: another slipway process is writing to the store; a later rmi removes them\n');
      else if (gc.removedBlobs > 0) ctx.stdout.write(`Deleted: ${gc.removedBlobs} blobs, ${formatSize(gc.removedBytes)}\n`);
    } finally {
      await store.close();
    }
    if (failed > 0) throw new SlipwayError('RMI_FAILED', `rmi: ${failed} of ${ctx.positionals.length} image(s) not removed`, { hint: 'see the errors above; "slipway images" lists the names' });
  },
};
