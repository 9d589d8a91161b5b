// The host-backend conformance suite against the local host.

import test from 'ava';
import { silentLogger } from '../../protocol/log.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../../imagetool/index.js';
import { LocalHostBackend } from '../../supervisor/hosts/local.js';
import { findPuppet } from '../../supervisor/hosts/puppet-command.js';
import { hostConformance, type ConformanceSetup } from './host-conformance.js';
import { imageWithBootScript, processesMentioning } from './local-fixtures.js';

let setup: ConformanceSetup | null = null;
const cleanups: Array<() => Promise<void>> = [];

test.before(async () => {
  const scratch = await mkdtemp(join(tmpdir(), 'tml-local-conformance-'));
  cleanups.push(() => rm(scratch, { recursive: true, force: true }));
  const image = async (script: string, entrypoint = true) => {
    const f = await imageWithBootScript(script, { entrypoint });
    cleanups.push(f.cleanup);
    return { storeDir: f.storeDir, imageId: f.imageId, manifest: await readManifest(f.storeDir, f.imageId) };
  };
  setup = {
    backend: new LocalHostBackend({ puppet: findPuppet(), log: silentLogger, stopGraceMs: 500 }),
    image: (script) => image(script),
    // No entrypoint attribute: the local host has nothing to run.
    unstartableImage: () => image('#!/bin/sh\n', false),
    selfEnd: 'exit 0',
    scratch,
    leftovers: async (_jobId, jobDir) => processesMentioning(jobDir).map((pid) => `process ${pid}`),
    bootTimeoutMs: 30_000,
  };
});

test.after.always(async () => {
  for (const c of cleanups) await c();
});

hostConformance(test, 'local', () => setup);
