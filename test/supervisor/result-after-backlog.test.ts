// A workload's declared result survives the end of its boot script: with the real local host, the
// real puppet and a boot script that floods the control socket with sub-states, reports its result
// and exits at once, the job ends with that result, not `unknown`.

import test from 'ava';
import { silentLogger } from '../../protocol/log.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalHostBackend } from '../../supervisor/hosts/local.js';
import { findPuppet } from '../../supervisor/hosts/puppet-command.js';
import { loadVerifiedImage } from '../../supervisor/image-loader.js';
import { JobRunner } from '../../supervisor/job-runner.js';
import { JOB_ID, Recorder, startMessage } from './fakes.js';
import { imageWithBootScript } from './local-fixtures.js';

// Sends sub-states over the puppet's local socket as fast as the daemon takes them, 8 at a time.
const FLOOD = `
const net = require('node:net');
const [count, size] = process.argv.slice(2).map(Number);
const call = (req) => new Promise((resolve, reject) => {
  const s = net.connect(process.env.TML_PUPPET_SOCKET);
  let text = '';
  s.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve(text)).on('error', reject);
  s.end(JSON.stringify(req) + '\\n');
});
const filler = 'x'.repeat(size);
let next = 0;
const worker = async () => { while (next < count) await call({ op: 'substate', substate: next++ + filler }); };
Promise.all(Array.from({ length: 8 }, worker)).catch((e) => { console.error(e.message); process.exit(1); });
`;

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('a result declared right before the boot script exits is kept behind a backlog of sub-states', async (t) => {
  t.timeout(60_000);
  const dir = await mkdtemp(join(process.env['TMPDIR'] ?? '/tmp', 'tml-backlog-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const flood = join(dir, 'flood.cjs');
  await writeFile(flood, FLOOD);
  const f = await imageWithBootScript(`#!/bin/sh
'${process.execPath}' '${flood}' 1000 60000 || exit 3
tml-puppet job finish --status success --output "all passed" || exit 4
exit 0
`);
  t.teardown(f.cleanup);
  // A few runs: the race the drain closes was lost in most runs, but not in every one.
  for (let run = 0; run < 3; run++) {
    const recorder = new Recorder();
    const workDir = await mkdtemp(join(f.dir, 'work-'));
    const runner = new JobRunner({
      // A supervisor slower than its puppet (a busy machine, a slow link): each sub-state costs it 1 ms.
      send: (jobId, event) => {
        if (event.type === 'state_transition') busy(1);
        recorder.push(jobId, event);
      },
      loadImage: (id) => loadVerifiedImage(f.storeDir, id),
      allocateJobDir: (jobId) => mkdtemp(join(workDir, `job-${jobId.slice(0, 8)}-`)),
      releaseJobDir: (jobDir) => rm(jobDir, { recursive: true, force: true }),
      host: new LocalHostBackend({ puppet: findPuppet(), log: silentLogger, stopGraceMs: 500 }),
      storeDir: f.storeDir,
      log: silentLogger,
    });
    runner.start(startMessage({ image_spec: { type: 'image', image_id: f.imageId } }));
    await recorder.untilState('terminated');
    const declared = recorder.sent.filter((s) => s.jobId === JOB_ID && s.event.type === 'declare_exit_status');
    t.deepEqual(
      declared.map((s) => s.event),
      [{ type: 'declare_exit_status', user_exit_status: 'success', host_output: 'all passed' }],
      `run ${run + 1}: ${recorder
        .trace()
        .filter((l) => !l.startsWith('ready: '))
        .join(' | ')}`,
    );
  }
});
