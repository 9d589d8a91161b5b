// The job runner with hosts that are machines: reboots, machine exits, SSH endpoints, stop modes.

import test from 'ava';
import { JobRunner } from '../../supervisor/job-runner.js';
import { fakeDeps, hostStarted, startMessage } from './fakes.js';

async function readyJob() {
  const f = fakeDeps();
  const runner = new JobRunner(f.deps);
  runner.start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onStage('provisioning', null);
  host.cb.onStage('booting', null);
  host.cb.onReady({ sshEndpoints: [{ host: '127.0.0.1', port: 40022 }] });
  return { ...f, runner, host };
}

test('the ready transition names the ssh endpoints the host reports', async (t) => {
  const { recorder } = await readyJob();
  t.is(recorder.trace().at(-1), 'ready: ssh endpoints: 127.0.0.1:40022');
});

test('an IPv6 ssh endpoint is written in brackets', async (t) => {
  const f = fakeDeps();
  new JobRunner(f.deps).start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onReady({ sshEndpoints: [{ host: '::1', port: 22 }] });
  t.is(f.recorder.trace().at(-1), 'ready: ssh endpoints: [::1]:22');
});

test('a host without endpoints becomes ready with no status message', async (t) => {
  const f = fakeDeps();
  new JobRunner(f.deps).start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onReady({ sshEndpoints: [] });
  t.is(f.recorder.trace().at(-1), 'ready');
});

test('a guest reboot goes back to initializing/booting and then to ready again', async (t) => {
  const { recorder, host, runner } = await readyJob();
  host.cb.onRebooting('the guest is rebooting');
  t.is(recorder.trace().at(-1), 'initializing/booting: the guest is rebooting');
  t.like(runner.status(), { type: 'ongoing_job', job_state: { state: 'initializing', stage: 'booting' } });
  host.cb.onReady({ sshEndpoints: [] });
  t.is(recorder.trace().at(-1), 'ready');
});

test('a reboot reported before ready changes nothing', async (t) => {
  const f = fakeDeps();
  new JobRunner(f.deps).start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onStage('booting', null);
  const before = f.recorder.trace();
  host.cb.onRebooting('the guest is rebooting');
  t.deepEqual(f.recorder.trace(), before);
});

test('a machine that ends on its own ends the job with its reason as the unknown exit status output', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onExit({ kind: 'machine', reason: 'the guest powered off' });
  await recorder.untilState('terminated');
  const declared = recorder.sent.find((s) => s.event.type === 'declare_exit_status');
  t.like(declared?.event, {
    user_exit_status: 'unknown',
    host_output: 'the workload reported no exit status (the guest powered off)',
  });
});

test('a job that ends normally stops its host gracefully', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onPuppetEvent({ type: 'terminatejob', supervisor_event_id: null });
  await recorder.untilState('terminated');
  t.is(host.stopMode, 'graceful');
});

test('a host that failed to start is stopped immediately', async (t) => {
  const f = fakeDeps();
  new JobRunner(f.deps).start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onStartError('no disk');
  await f.recorder.untilState('terminated');
  t.is(host.stopMode, 'immediate');
});
