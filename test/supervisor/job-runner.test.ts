import test from 'ava';
import { JobRunner } from '../../supervisor/job-runner.js';
import { ImageUnavailableError } from '../../supervisor/image-loader.js';
import { MAX_WORKLOAD_OUTPUT_BYTES, truncationMarker } from '../../protocol/text-caps.js';
import { fakeDeps, hostStarted, IMAGE_ID, JOB_ID, OTHER_JOB_ID, startMessage } from './fakes.js';

async function readyJob() {
  const f = fakeDeps();
  const runner = new JobRunner(f.deps);
  runner.start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onStage('provisioning', null);
  host.cb.onStage('booting', null);
  host.cb.onReady();
  return { ...f, runner, host };
}

test('a job goes through every initializing stage to ready', async (t) => {
  const { recorder } = await readyJob();
  t.deepEqual(recorder.trace(), [
    'initializing/starting',
    `initializing/fetching_image: image ${IMAGE_ID}`,
    'initializing/allocating',
    'initializing/provisioning',
    'initializing/booting',
    'ready',
  ]);
});

test('the host gets the job id, parameters, ssh keys, store and a fresh job directory', async (t) => {
  const { host } = await readyJob();
  t.is(host.spec.jobId, JOB_ID);
  t.is(host.spec.imageId, IMAGE_ID);
  t.is(host.spec.jobDir, `/fake/work/job-${JOB_ID}`);
  t.is(host.spec.storeDir, '/fake/store');
  t.deepEqual(host.spec.parameters, { greeting: { value: 'hello', secret: false } });
});

test('a sub-state becomes a transition to the current state carrying the sub-state', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onPuppetEvent({ type: 'reportsubstate', substate: 'flashing board' });
  t.is(recorder.trace().at(-1), 'ready: flashing board');
});

test('a sub-state during initializing keeps the current stage', async (t) => {
  const f = fakeDeps();
  const runner = new JobRunner(f.deps);
  runner.start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onStage('booting', null);
  host.cb.onPuppetEvent({ type: 'reportsubstate', substate: 'warming up' });
  t.is(f.recorder.trace().at(-1), 'initializing/booting: warming up');
});

test('a declared workload status is forwarded as declare_exit_status with its output', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onPuppetEvent({
    type: 'declareworkloadexitstatus',
    workload_exit_status: 'error',
    workload_output: '3 tests failed',
  });
  t.deepEqual(recorder.sent.at(-1)?.event, {
    type: 'declare_exit_status',
    user_exit_status: 'error',
    host_output: '3 tests failed',
  });
});

test('a declared output over the cap is forwarded cut to it, with a marker, and the status kept', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onPuppetEvent({
    type: 'declareworkloadexitstatus',
    workload_exit_status: 'error',
    workload_output: 'z'.repeat(2 * 1024 * 1024),
  });
  const event = recorder.sent.at(-1)!.event;
  if (event.type !== 'declare_exit_status') return t.fail(`sent ${event.type}`);
  t.is(event.user_exit_status, 'error');
  t.true(Buffer.byteLength(event.host_output!) <= MAX_WORKLOAD_OUTPUT_BYTES);
  t.true(event.host_output!.endsWith(truncationMarker(2 * 1024 * 1024)));
});

test('every job event leaves within the switchboard message limit, whatever the puppet sent', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onPuppetEvent({ type: 'reportsubstate', substate: '\u0001'.repeat(1024 * 1024) });
  host.cb.onStartError('\u0002'.repeat(1024 * 1024));
  await recorder.untilState('terminated');
  for (const { event } of recorder.sent) t.true(JSON.stringify(event).length < 1024 * 1024, event.type);
  const substate = recorder.trace().find((line) => line.startsWith('ready: '))!;
  t.true(substate.endsWith(truncationMarker(1024 * 1024)));
});

test('a result the host hands over while it is torn down after the boot script exited still counts', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onExit({ kind: 'boot-script', code: 0, signal: null });
  host.cb.onPuppetEvent({ type: 'reportsubstate', substate: 'late' });
  host.cb.onPuppetEvent({ type: 'declareworkloadexitstatus', workload_exit_status: 'success', workload_output: 'ok' });
  await recorder.untilState('terminated');
  t.deepEqual(recorder.trace().slice(-3), [
    'terminating: the boot script exited with code 0',
    'declare success',
    'terminated',
  ]);
});

test('a result handed over after stop_job is not sent: the switchboard holds the final status', async (t) => {
  const { recorder, host, runner } = await readyJob();
  runner.stop(JOB_ID);
  host.cb.onPuppetEvent({ type: 'declareworkloadexitstatus', workload_exit_status: 'success', workload_output: 'ok' });
  await recorder.untilState('terminated');
  t.deepEqual(recorder.trace().slice(-2), ['terminating: stop requested by the switchboard', 'terminated']);
});

test('a start_job refused with a long reason still ends the job within the message limit', async (t) => {
  const f = fakeDeps();
  const runner = new JobRunner(f.deps);
  runner.rejectStart(OTHER_JOB_ID, `unknown field "${'k'.repeat(2 * 1024 * 1024)}"`);
  t.deepEqual(
    f.recorder.trace(OTHER_JOB_ID).map((l) => l.split(':')[0]),
    ['error InternalError', 'terminated'],
  );
  for (const { event } of f.recorder.sent) t.true(JSON.stringify(event).length < 16 * 1024, event.type);
});

test('terminatejob after a declared status ends the job without a second status', async (t) => {
  const { recorder, host, runner, released } = await readyJob();
  host.cb.onPuppetEvent({ type: 'declareworkloadexitstatus', workload_exit_status: 'success', workload_output: null });
  host.cb.onPuppetEvent({ type: 'terminatejob', supervisor_event_id: null });
  await recorder.untilState('terminated');
  t.deepEqual(recorder.trace().slice(-3), [
    'declare success',
    'terminating: the workload asked to terminate the job',
    'terminated',
  ]);
  t.true(host.stopped);
  t.deepEqual(released, [`/fake/work/job-${JOB_ID}`]);
  t.deepEqual(runner.status(), { type: 'idle' });
});

test('a boot script that exits without declaring gets unknown before terminated', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onExit({ kind: 'boot-script', code: 0, signal: null });
  await recorder.untilState('terminated');
  t.deepEqual(recorder.trace().slice(-3), [
    'terminating: the boot script exited with code 0',
    'declare unknown',
    'terminated',
  ]);
  const declared = recorder.sent.find((s) => s.event.type === 'declare_exit_status')!.event;
  t.like(declared, { host_output: 'the workload reported no exit status (the boot script exited with code 0)' });
});

test('a missing image ends ImageNotFound with the loader message and starts no host', async (t) => {
  const f = fakeDeps({
    loadImage: async () => {
      throw new ImageUnavailableError('ImageNotFound', 'image aaaa is not usable from store /s: no such image');
    },
  });
  const runner = new JobRunner(f.deps);
  runner.start(startMessage());
  await f.recorder.untilState('terminated');
  t.deepEqual(f.recorder.trace(), [
    'initializing/starting',
    `initializing/fetching_image: image ${IMAGE_ID}`,
    'error ImageNotFound',
    'terminated: image aaaa is not usable from store /s: no such image',
  ]);
  t.deepEqual(f.recorder.sent[2]!.event, {
    type: 'error',
    error: { error_kind: 'ImageNotFound', description: 'image aaaa is not usable from store /s: no such image' },
  });
  t.is(f.backend.hosts.length, 0);
  t.deepEqual(f.released, []);
});

test('an image that fails verification ends ImageInvalid', async (t) => {
  const f = fakeDeps({
    loadImage: async () => {
      throw new ImageUnavailableError('ImageInvalid', 'image aaaa failed verification');
    },
  });
  new JobRunner(f.deps).start(startMessage());
  await f.recorder.untilState('terminated');
  t.deepEqual(f.recorder.trace().slice(-2, -1), ['error ImageInvalid']);
});

test('an image loader that fails for another reason ends InternalError', async (t) => {
  const f = fakeDeps({
    loadImage: async () => {
      throw new Error('EIO');
    },
  });
  new JobRunner(f.deps).start(startMessage());
  await f.recorder.untilState('terminated');
  t.deepEqual(f.recorder.trace().slice(-2, -1), ['error InternalError']);
});

test('a resume_job image spec is refused with CannotResume', async (t) => {
  const f = fakeDeps();
  const runner = new JobRunner(f.deps);
  runner.start(startMessage({ image_spec: { type: 'resume_job', job_id: OTHER_JOB_ID } }));
  await f.recorder.untilState('terminated');
  t.deepEqual(f.recorder.trace().slice(-2, -1), ['error CannotResume']);
});

test('an image the host cannot boot ends with the kind the host gives', async (t) => {
  const f = fakeDeps();
  const runner = new JobRunner(f.deps);
  runner.start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onStartError('image has no local entrypoint', 'ImageNotCompatible');
  await f.recorder.untilState('terminated');
  t.deepEqual(f.recorder.trace().slice(-2), ['error ImageNotCompatible', 'terminated: image has no local entrypoint']);
});

test('a host that fails to come up ends InternalError, is stopped, and its directory released', async (t) => {
  const f = fakeDeps();
  const runner = new JobRunner(f.deps);
  runner.start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onStage('provisioning', null);
  host.cb.onStartError('the puppet exited before it was ready (code 2)');
  await f.recorder.untilState('terminated');
  t.deepEqual(f.recorder.trace().slice(-2), [
    'error InternalError',
    'terminated: the puppet exited before it was ready (code 2)',
  ]);
  t.true(host.stopped);
  t.is(f.released.length, 1);
});

test('stop_job stops the host and ends terminating, terminated without declaring a status', async (t) => {
  const { recorder, host, runner } = await readyJob();
  runner.stop(JOB_ID);
  await recorder.untilState('terminated');
  t.true(host.stopped);
  t.deepEqual(recorder.trace().slice(-2), ['terminating: stop requested by the switchboard', 'terminated']);
});

test('stop_job while the image is being fetched starts no host', async (t) => {
  let loaded!: () => void;
  const f = fakeDeps({
    loadImage: () =>
      new Promise(
        (resolve) => (loaded = () => resolve({ label: 'x', revision: 1, description: '', attrs: {}, blobs: {} })),
      ),
  });
  const runner = new JobRunner(f.deps);
  runner.start(startMessage());
  await f.recorder.until(
    (s) => s.event.type === 'state_transition' && s.event.status_message?.startsWith('image ') === true,
  );
  runner.stop(JOB_ID);
  await f.recorder.untilState('terminated');
  loaded();
  await new Promise((r) => setImmediate(r));
  t.is(f.backend.hosts.length, 0);
  t.deepEqual(f.recorder.trace().slice(-2), ['terminating: stop requested by the switchboard', 'terminated']);
});

test('stop_job for another job leaves the running one alone and answers JobNotFound', async (t) => {
  const { recorder, host, runner } = await readyJob();
  runner.stop(OTHER_JOB_ID);
  t.false(host.stopped);
  t.is(recorder.trace().at(-1), 'ready');
  t.deepEqual(recorder.trace(OTHER_JOB_ID), ['error JobNotFound']);
});

test('stop_job for a job that is already stopping answers AlreadyStopping', async (t) => {
  let stopHost!: () => void;
  const { recorder, host, runner } = await readyJob();
  host.stop = () => new Promise<void>((resolve) => (stopHost = resolve));
  runner.stop(JOB_ID);
  runner.stop(JOB_ID);
  t.is(recorder.trace().at(-1), 'error AlreadyStopping');
  stopHost();
  await recorder.untilState('terminated');
});

test('console output is sent before the state transition that follows it', async (t) => {
  const { recorder, host } = await readyJob();
  host.cb.onConsole(Buffer.from('line 1\n'));
  host.cb.onConsole(Buffer.from('line 2\n'));
  host.cb.onPuppetEvent({ type: 'reportsubstate', substate: 'testing' });
  t.deepEqual(recorder.trace().slice(-2), ['console line 1\nline 2\n', 'ready: testing']);
});

test('status reports the running job and its state, and idle once it ended', async (t) => {
  const { runner, host, recorder } = await readyJob();
  t.deepEqual(runner.status(), { type: 'ongoing_job', job_id: JOB_ID, job_state: { state: 'ready' } });
  host.cb.onExit({ kind: 'boot-script', code: 1, signal: null });
  t.deepEqual(runner.status(), { type: 'ongoing_job', job_id: JOB_ID, job_state: { state: 'terminating' } });
  await recorder.untilState('terminated');
  t.deepEqual(runner.status(), { type: 'idle' });
});

test('a start_job for another job while busy is failed with MaxConcurrentJobs', async (t) => {
  const { recorder, runner, backend } = await readyJob();
  runner.start(startMessage({ job_id: OTHER_JOB_ID }));
  t.deepEqual(recorder.trace(OTHER_JOB_ID), [
    'error MaxConcurrentJobs',
    `terminated: this supervisor runs one job at a time and is busy with job ${JOB_ID}`,
  ]);
  t.is(backend.hosts.length, 1);
  t.like(runner.status(), { job_id: JOB_ID });
});

test('a repeated start_job for the running job is answered AlreadyRunning and changes nothing', async (t) => {
  const { recorder, runner, backend } = await readyJob();
  runner.start(startMessage());
  t.is(recorder.trace().at(-1), 'error AlreadyRunning');
  t.is(backend.hosts.length, 1);
  t.deepEqual(runner.status(), { type: 'ongoing_job', job_id: JOB_ID, job_state: { state: 'ready' } });
});

test('events after the job ended are ignored', async (t) => {
  const { recorder, host, runner } = await readyJob();
  runner.stop(JOB_ID);
  await recorder.untilState('terminated');
  const count = recorder.sent.length;
  host.cb.onPuppetEvent({ type: 'declareworkloadexitstatus', workload_exit_status: 'success', workload_output: null });
  host.cb.onExit({ kind: 'boot-script', code: 0, signal: null });
  t.is(recorder.sent.length, count);
});

test('the next job starts once the previous one terminated', async (t) => {
  const { recorder, runner, backend, host } = await readyJob();
  host.cb.onExit({ kind: 'boot-script', code: 0, signal: null });
  await recorder.untilState('terminated');
  runner.start(startMessage({ job_id: OTHER_JOB_ID }));
  while (backend.hosts.length < 2) await new Promise((r) => setImmediate(r));
  t.is(backend.hosts.length, 2);
  t.deepEqual(recorder.trace(OTHER_JOB_ID).slice(0, 1), ['initializing/starting']);
});

test('shutting the supervisor down ends the job with InternalError', async (t) => {
  const { recorder, runner, host } = await readyJob();
  await runner.shutdown();
  t.true(host.stopped);
  t.deepEqual(recorder.trace().slice(-3), [
    'terminating: the supervisor is shutting down',
    'error InternalError',
    'terminated',
  ]);
});

test('console output waits while the switchboard link is congested', async (t) => {
  let congested = true;
  const f = fakeDeps({ congested: () => congested });
  const runner = new JobRunner(f.deps);
  runner.start(startMessage());
  const host = await hostStarted(f.backend);
  host.cb.onReady();
  const wait = host.cb.onConsole(Buffer.from('x'));
  t.true(wait instanceof Promise);
  let resumed = false;
  void wait!.then(() => (resumed = true));
  await new Promise((r) => setTimeout(r, 50));
  t.false(resumed);
  congested = false;
  await wait;
  t.is(host.cb.onConsole(Buffer.from('y')), undefined);
});
