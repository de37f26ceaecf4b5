import type { Command, OptionSpec } from './command.js';
import { GLOBAL_OPTIONS } from './command.js';

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : '    ';
    const val = o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : '';
    const rep = o.multiple ? ' (repeatable)' : '';
    return [`  ${short}--${name}${val}`, `${o.description}${rep}`] as const;
  });
  const width = Math.max(0, ...rows.map((r) => r[0].length)) + 2;
  return rows.map(([l, r]) => l.padEnd(width) + r);
}

/** `slipway <cmd> --help`; `summary` is the command table's line for it. */
export function commandHelp(cmd: Command, summary: string): string {
  const lines = [`Usage: slipway ${cmd.name} ${cmd.usage}`, '', summary, ''];
  if (Object.keys(cmd.options).length > 0) lines.push('Options:', ...optionLines(cmd.options), '');
  lines.push('Global options:', ...optionLines(GLOBAL_OPTIONS));
  if (cmd.details) lines.push('', cmd.details.trimEnd());
  return lines.join('\n') + '\n';
}

export function mainHelp(commands: readonly { name: string; summary: string }[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    `slipway ${version}: daemonless, rootless OCI image builder`,
    '',
    'Usage: slipway COMMAND [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run "slipway COMMAND --help" for a command\'s options.',
    '',
  ].join('\n');
}
