#!/usr/bin/env node
'use strict';
// The published entry point runs the compiled CLI (built by `npm run build`, which `npm ci` runs via `prepare`).
require('../dist/src/cli.js').main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(err && err.message ? err.message : err); process.exitCode = 1; },
);
