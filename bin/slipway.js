#!/usr/bin/env node
// dist/cli/boot.js runs the CLI bundle through V8's code cache (see src/cli/boot.ts).
import { boot } from '../dist/cli/boot.js';

process.exitCode = await boot(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
