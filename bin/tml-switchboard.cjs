#!/usr/bin/env node
// `tml-switchboard` as installed: its bundle (dist/bin/tml-switchboard.js) with its code cache.
// That bundle leaves out what only `serve` runs (scripts/bundle-bins.ts), so a command line with
// the word `serve` anywhere runs the bundle of everything: any other word that happens to be
// `serve` (a user's name) only costs that command a few milliseconds.
require('./load-bundle.cjs')(process.argv.includes('serve', 2) ? 'tml-switchboard-serve' : 'tml-switchboard');
