import type { Command } from '../command.js';
import { flag, str } from '../command.js';
import { UsageError, formatPlatform, listImageSummaries, parseReference, shortId } from '../../index.js';
import { formatAge, formatSize } from './local-images.js';
import { openLocalStore } from './registry-flags.js';

function splitName(ref: string): [string, string] {
  try {
    const r = parseReference(ref, { defaultTag: false });
    const repo = r.withTag('x').familiar().slice(0, -2);
    return [repo, r.tag ?? '<none>'];
  } catch {
    return [ref, '<none>'];
  }
}

export const imagesCommand: Command = {
  name: 'images',
  usage: '[options]',
  details: 'Columns: REPOSITORY, TAG, DIGEST (of the manifest or index), CREATED, SIZE (every blob, shared ones once).',
  options: {
    format: { type: 'string', value: 'table|json', description: 'output format (default table)' },
    quiet: { type: 'boolean', short: 'q', description: 'print only the names' },
  },
  args: { min: 0, max: 0 },
  async run(ctx) {
    const format = str(ctx, 'format') ?? 'table';
    if (format !== 'table' && format !== 'json') throw new UsageError(`images: unknown --format "${format}"`, 'use table or json');
    const store = await openLocalStore(ctx);
    try {
      const list = await listImageSummaries(store);
      if (flag(ctx, 'quiet')) {
        for (const i of list) ctx.stdout.write(`${i.ref}\n`);
        return;
      }
      if (format === 'json') {
        ctx.stdout.write(JSON.stringify(list.map((i) => ({ ...i, platforms: i.platforms.map(formatPlatform) })), null, 2) + '\n');
        return;
      }
      const rows = [['REPOSITORY', 'TAG', 'DIGEST', 'CREATED', 'SIZE']];
      for (const i of list) rows.push([...splitName(i.ref), shortId(i.digest), formatAge(i.created), formatSize(i.size)]);
      const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
      for (const r of rows) ctx.stdout.write(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]! + 3))).join('') + '\n');
    } finally {
      await store.close();
    }
  },
};
