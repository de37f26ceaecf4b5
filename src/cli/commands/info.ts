import type { Command } from '../command.js';
import { hostPlatform, formatPlatform } from '../../index.js';

export const infoCommand: Command = {
  name: 'info',
  summary: 'show what this machine offers slipway (user, namespaces, storage, runtime)',
  usage: '[options]',
  options: { format: { type: 'string', value: 'json|text', description: 'output format (default text)' } },
  args: { min: 0, max: 0 },
  async run(ctx) {
    const info = { version: process.version, platform: formatPlatform(hostPlatform()), uid: process.getuid?.() };
    if (ctx.values.format === 'json') ctx.stdout.write(JSON.stringify(info, null, 2) + '\n');
    else for (const [k, v] of Object.entries(info)) ctx.stdout.write(`${k}: ${String(v)}\n`);
  },
};
