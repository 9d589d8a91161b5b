#!/usr/bin/env node
// `tml` as installed: its bundle (dist/bin/tml.js) with its code cache.
require('./load-bundle.cjs')('tml');
