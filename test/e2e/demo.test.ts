// The demo flow end to end through the real CLIs (tml-imagetool, tml-switchboard, tml-supervisor, tml)
// with the bundled puppet, as `npm run demo` runs it.

import test from 'ava';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runDemo, type DemoResult } from '../../scripts/demo-flow.js';
import type { JobEventRecord, JobStatus } from '../../protocol/switchboard-api.js';
import { processesMentioning } from '../supervisor/local-fixtures.js';

const BUNDLE = fileURLToPath(new URL('../../tml-puppet.mjs', import.meta.url));

let demo: Promise<DemoResult> | undefined;
/** One run of the demo, shared by the tests below: each checks one aspect of it. */
function runOnce(): Promise<DemoResult> {
  // At debug level the supervisor's log also carries the control-socket server's and the puppet's lines.
  demo ??= runDemo({ print: () => {}, puppet: BUNDLE, supervisorLogLevel: 'debug', jobTimeoutSeconds: 45 });
  return demo;
}

test.serial('the puppet bundle exists (npm run bundle)', (t) => {
  t.true(existsSync(BUNDLE), `${BUNDLE} is missing: run npm run bundle`);
});

test.serial('the job ends WorkloadFinishedSuccess and tml job wait exits 0', async (t) => {
  // Shorter than ava's own timeout, so a hang fails here and runDemo still stops what it started.
  t.timeout(90_000);
  const result = await runOnce();
  t.is(result.waitCode, 0);
  const status = JSON.parse(result.api.statusJson) as JobStatus;
  t.like(status, {
    job_id: result.jobId,
    state: { type: 'terminated', result: { job_id: result.jobId, exit_status: 'workload_finished_success' } },
  });
  t.deepEqual(status.init_spec, { type: 'image', image_id: result.imageId });
  t.regex(result.api.status, /WorkloadFinishedSuccess/);
});

test.serial('the events go through every stage, the sub-states and the exit status, in order', async (t) => {
  const result = await runOnce();
  const events = JSON.parse(result.api.eventsJson) as JobEventRecord[];
  const trace = events.map((e) =>
    [e.kind, e.state, e.stage ?? '', e.kind === 'exit_status' ? e.exit_status : ''].filter((x) => x !== '').join(' '),
  );
  t.deepEqual(trace, [
    'state queued',
    'state scheduled',
    'state initializing starting',
    'sub_state initializing fetching_image',
    'sub_state initializing allocating',
    'sub_state initializing provisioning',
    'sub_state initializing booting',
    'state ready',
    'sub_state ready',
    'sub_state ready',
    'exit_status ready workload_finished_success',
    'state terminating',
    'state terminated',
  ]);
  t.deepEqual(
    events.filter((e) => e.kind === 'sub_state' && e.state === 'ready').map((e) => e.status_message),
    ['reading parameters', 'running tests'],
  );
});

test.serial('the boot script read both parameters and its test passed, as the console shows', async (t) => {
  const { api } = await runOnce();
  t.regex(api.logs, /boot: parameter greeting = hello\n/);
  t.regex(api.logs, /boot: parameter api-key is present \(\d+ bytes, value not shown\)/);
  t.regex(api.logs, /test: the parameters directory is open only to its owner \.\.\. ok\n/);
  t.regex(api.logs, /test: all passed\n/);
});

test.serial('the secret value appears in no client output and no service log, even at debug level', async (t) => {
  const result = await runOnce();
  t.regex(result.serviceLogs.supervisor, /puppet: /, "the puppet's own log lines are part of the checked log");
  const places: Record<string, string> = { ...result.api, ...result.serviceLogs };
  for (const [name, text] of Object.entries(places)) t.false(text.includes(result.secret), `secret found in ${name}`);
  const status = JSON.parse(result.api.statusJson) as JobStatus;
  t.deepEqual(status.parameters?.['api-key'], { secret: true });
  t.deepEqual(status.parameters?.greeting, { secret: false, value: 'hello' });
});

test.serial('nothing of the demo is left running or on disk', async (t) => {
  const result = await runOnce();
  t.false(existsSync(result.dir));
  t.deepEqual(processesMentioning(result.dir), []);
});
