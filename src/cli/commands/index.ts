import type { Command } from '../command.js';
import { infoCommand } from './info.js';
import { runStepCommand } from './run.js';
import { pullCommand } from './pull.js';
import { pushCommand } from './push.js';
import { inspectCommand } from './inspect.js';
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';
import { imagesCommand } from './images.js';
import { tagCommand } from './tag.js';
import { rmiCommand } from './rmi.js';
import { saveCommand } from './save.js';
import { buildCommand } from './build.js';
import { planCommand } from './plan.js';

/** Every CLI command, in the order --help lists them. Add one line per command. */
export const COMMANDS: readonly Command[] = [
  buildCommand,
  planCommand,
  infoCommand,
  runStepCommand,
  pullCommand,
  pushCommand,
  inspectCommand,
  loginCommand,
  logoutCommand,
  imagesCommand,
  tagCommand,
  rmiCommand,
  saveCommand,
];
