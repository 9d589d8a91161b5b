#!/usr/bin/env node
// `tml-supervisor` as installed: its bundle (dist/bin/tml-supervisor.js) with its code cache.
require('./load-bundle.cjs')('tml-supervisor');
