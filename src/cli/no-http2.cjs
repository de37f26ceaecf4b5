'use strict';
// Stands in for node:http2 inside the CLI bundle (esbuild --alias, see package.json "bundle").
// undici loads node:http2 (and with it tls) as soon as its client module loads, ~3 ms of every
// registry command, but speaks HTTP/2 only to an Agent made with allowH2, which slipway never
// makes. undici itself falls back to this same shape when node:http2 is missing. The library
// (dist/index.js) and `ADD <url>` (undici loaded outside the bundle) use the real module.
module.exports = {
  constants: {},
  connect() {
    throw new Error('slipway: HTTP/2 is not available in the CLI bundle');
  },
};
