import type { Writable } from 'node:stream';

/** One CLI option, in node:util parseArgs terms plus help text. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean | string[];
  /** Placeholder for the value in --help, e.g. "DIR". */
  value?: string;
  description: string;
}

export interface CommandContext {
  /** Parsed option values by long name. */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  debug: boolean;
  /** Writes one line to stderr when --debug is on. Never pass credentials. */
  log(line: string): void;
}

export interface Command {
  name: string;
  /** Usage line after "slipway <name> ", e.g. "[options] REF". */
  usage: string;
  /** Longer help text (examples), optional. */
  details?: string;
  options: Record<string, OptionSpec>;
  /** Minimum / maximum number of positional arguments. */
  args: { min: number; max: number };
  run(ctx: CommandContext): Promise<number | void>;
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
  debug: { type: 'boolean', description: 'print detail (never credentials) and stack traces' },
  root: { type: 'string', value: 'DIR', description: 'local store directory (default $XDG_DATA_HOME/slipway)' },
};

export function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function list(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [v];
  return [];
}

export function flag(ctx: CommandContext, name: string): boolean {
  return ctx.values[name] === true;
}
