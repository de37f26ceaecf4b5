import type { Command } from '../command.js';
import { infoCommand } from './info.js';
import { runStepCommand } from './run.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { inspectCommand } from './inspect.js';
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';

/** Every CLI command, in the order --help lists them. Add one line per command. */
export const COMMANDS: readonly Command[] = [
  infoCommand,
  runStepCommand,
  pullCommand,
  pushCommand,
  inspectCommand,
  loginCommand,
  logoutCommand,
];
