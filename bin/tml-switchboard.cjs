#!/usr/bin/env node
// `tml-switchboard` as installed: its bundle (dist/bin/tml-switchboard.js) with its code cache.
require('./load-bundle.cjs')('tml-switchboard');
