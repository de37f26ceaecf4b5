#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json): no ES module loader to start first. boot() runs the CLI
// bundle through V8's code cache (src/cli/boot.ts); dist/bundle/boot.cjs is boot.ts bundled
// by `npm run build`, dist/cli/boot.js its tsc output (a checkout built with tsc alone).
const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
let loaded;
try {
  loaded = Promise.resolve(require('../dist/bundle/boot.cjs'));
} catch (e) {
  if (e.code !== 'MODULE_NOT_FOUND') throw e;
  loaded = import('../dist/cli/boot.js');
}
loaded
  .then(({ boot }) => boot(process.argv.slice(2), io))
  .then((code) => {
    process.exitCode = code;
  });
