#!/usr/bin/env node
// `tml-imagetool` as installed: its bundle (dist/bin/tml-imagetool.js) with its code cache.
require('./load-bundle.cjs')('tml-imagetool');
