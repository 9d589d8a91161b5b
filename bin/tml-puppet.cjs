#!/usr/bin/env node
// `tml-puppet` as installed: its bundle (dist/bin/tml-puppet.js) with its code cache.
require('./load-bundle.cjs')('tml-puppet');
