#!/usr/bin/env node
'use strict';
// The published entry point runs the compiled CLI (built by `npm run build`, which `npm ci` runs via `prepare`).
// Once the command has finished, the process ends within seconds even if a library left a handle
// open (a reconnecting client, a timer): the timer is unref'd, so a clean exit comes sooner.
const exitSoon = (code) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 3000).unref();
};
require('../dist/src/cli.js')
  .main(process.argv)
  .then(exitSoon, (err) => {
    console.error(err && err.message ? err.message : err);
    exitSoon(1);
  });
