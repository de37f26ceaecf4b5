#!/usr/bin/env node
import { statSync } from 'node:fs';

// The CLI runs from the esbuild bundle (dist/bundle: one module to load, each command's
// code split off and loaded only when that command runs). When tsc rebuilt dist/ after
// the bundle (a `tsc -p tsconfig.build.json` without `npm run build`), the bundle is
// stale and the plain modules under dist/cli run instead. npm pack gives every file the
// same mtime: the bundle wins.
const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const entry = mtime('../dist/bundle/main.js') >= mtime('../dist/cli/main.js') ? '../dist/bundle/main.js' : '../dist/cli/main.js';
// --debug: stack traces name src/*.ts lines (source maps cost nothing otherwise)
if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
const { main } = await import(entry);

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
process.exitCode = code;
