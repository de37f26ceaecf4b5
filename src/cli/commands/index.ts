import type { Command } from '../command.js';
import { infoCommand } from './info.js';

/** Every CLI command, in the order --help lists them. Add one line per command. */
export const COMMANDS: readonly Command[] = [
  infoCommand,
];
