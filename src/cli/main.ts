import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { SlipwayError, errorMessage } from '../startup.js';
import type { Command, CommandContext, OptionSpec } from './command.js';
import { GLOBAL_OPTIONS } from './command.js';
import { commandHelp, mainHelp } from './help.js';
import { reexecEarly } from './early.js';
import { COMMANDS, type CommandEntry } from './commands/index.js';

export { COMMANDS };

/** The package's version, from the package.json above this module (dist/cli/ or the bundle's dist/bundle/cli/). */
function version(): string {
  for (let up = '../'; up.length <= 12; up += '../') {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'slipway') return pkg.version;
    } catch {
      /* not here: one level up */
    }
  }
  return 'unknown';
}

function toParseArgsOptions(opts: Record<string, OptionSpec>) {
  const out: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean | string[] }> = {};
  for (const [name, o] of Object.entries(opts)) {
    out[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}), ...(o.default !== undefined ? { default: o.default } : {}) };
  }
  return out;
}

export interface MainIO {
  stdout: NodeJS.WritableStream & import('node:stream').Writable;
  stderr: NodeJS.WritableStream & import('node:stream').Writable;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

/**
 * Runs the CLI; returns the exit code. Never throws. `commands` is the command table
 * (tests pass their own); each command's module loads only when that command runs.
 */
export async function main(argv: string[], io: MainIO, commands: readonly CommandEntry[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === 'version') {
    io.stdout.write(`slipway ${version()}\n`);
    return 0;
  }
  try {
    await reexecEarly(argv, io.env);
  } catch (err) {
    return reportError(err, rest.includes('--debug'), io.stderr);
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(mainHelp(commands, version()));
    return name === undefined ? 2 : 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    io.stderr.write(`slipway: unknown command "${name}"\nRun "slipway --help" for the list of commands.\n`);
    return 2;
  }
  const debug = rest.includes('--debug');
  let cmd: Command;
  try {
    cmd = await entry.load();
  } catch (err) {
    return reportError(new CommandLoadError(name, err), debug, io.stderr);
  }
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: rest, options: toParseArgsOptions({ ...GLOBAL_OPTIONS, ...cmd.options }), allowPositionals: true, strict: true });
    } catch (e) {
      throw new SlipwayError('USAGE', `${cmd.name}: ${errorMessage(e).replace(/\. To specify a positional.*$/s, '')}`, {
        hint: `run "slipway ${cmd.name} --help"`,
        exitCode: 2,
      });
    }
    if (parsed.values.help === true) {
      io.stdout.write(commandHelp(cmd, entry.summary));
      return 0;
    }
    const n = parsed.positionals.length;
    if (n < cmd.args.min || n > cmd.args.max) {
      throw new SlipwayError('USAGE', `${cmd.name}: expected ${cmd.args.min === cmd.args.max ? cmd.args.min : `${cmd.args.min} to ${cmd.args.max}`} argument(s), got ${n}`, {
        hint: `usage: slipway ${cmd.name} ${cmd.usage}`,
        exitCode: 2,
      });
    }
    const ctx: CommandContext = {
      values: parsed.values as CommandContext['values'],
      positionals: parsed.positionals,
      stdout: io.stdout,
      stderr: io.stderr,
      stdin: io.stdin,
      env: io.env,
      debug,
      log: (line) => {
        if (debug) io.stderr.write(`debug: ${line}\n`);
      },
    };
    const code = await cmd.run(ctx);
    return code ?? 0;
  } catch (err) {
    return reportError(err, debug, io.stderr);
  }
}

/** A command's module did not load: a broken or half-built installation, not a user mistake. */
export class CommandLoadError extends SlipwayError {
  constructor(command: string, cause: unknown) {
    super('COMMAND_LOAD', `loading the "${command}" command failed: ${errorMessage(cause)}`, {
      hint: 'the installation is incomplete or damaged: reinstall slipway (in a source checkout: npm run build); --debug shows the cause',
      cause,
    });
  }
}

export function reportError(err: unknown, debug: boolean, stderr: NodeJS.WritableStream): number {
  if (err instanceof SlipwayError) {
    stderr.write(`Error: ${err.message}\n`);
    if (err.hint) stderr.write(`  hint: ${err.hint}\n`);
    if (debug && err.stack) stderr.write(`${err.stack}\n`);
    if (debug && err.cause) stderr.write(`caused by: ${err.cause instanceof Error ? err.cause.stack : String(err.cause)}\n`);
    return err.exitCode;
  }
  stderr.write(`Error: ${errorMessage(err)}\n`);
  if (debug && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
  else stderr.write('  (an unexpected error; run again with --debug for detail and report it)\n');
  return 1;
}
