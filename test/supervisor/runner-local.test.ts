// The job runner with the real pieces: the image loader, the local host, B's control-socket server
// and the real puppet. Only the switchboard is replaced by a recorder.

import test from 'ava';
import { silentLogger } from '../../protocol/log.js';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blobPath } from '../../imagetool/index.js';
import { LocalHostBackend } from '../../supervisor/hosts/local.js';
import { findPuppet } from '../../supervisor/hosts/puppet-command.js';
import { loadVerifiedImage } from '../../supervisor/image-loader.js';
import { JobRunner } from '../../supervisor/job-runner.js';
import { JOB_ID, Recorder, startMessage } from './fakes.js';
import { alive, imageWithBootScript, type Fixture } from './local-fixtures.js';

async function runnerFor(f: Fixture) {
  const recorder = new Recorder();
  const workDir = await mkdtemp(join(f.dir, 'work-'));
  const runner = new JobRunner({
    send: recorder.push,
    loadImage: (id) => loadVerifiedImage(f.storeDir, id),
    allocateJobDir: (jobId) => mkdtemp(join(workDir, `job-${jobId.slice(0, 8)}-`)),
    releaseJobDir: (dir) => rm(dir, { recursive: true, force: true }),
    host: new LocalHostBackend({ puppet: findPuppet(), log: silentLogger, stopGraceMs: 500 }),
    storeDir: f.storeDir,
    log: silentLogger,
  });
  return { recorder, runner, workDir };
}

function start(runner: JobRunner, f: Fixture): void {
  runner.start(
    startMessage({
      image_spec: { type: 'image', image_id: f.imageId },
      parameters: { greeting: { value: 'hello', secret: false }, 'api-key': { value: 'k3y', secret: true } },
    }),
  );
}

test('a workload that runs its test with job run --terminate ends success, then terminated', async (t) => {
  const f = await imageWithBootScript(`#!/bin/sh
tml-puppet job substate "testing"
printf '#!/bin/sh\\necho test passed\\n' > t.sh && chmod +x t.sh
exec tml-puppet job run --terminate -- ./t.sh
`);
  t.teardown(f.cleanup);
  const { recorder, runner, workDir } = await runnerFor(f);
  start(runner, f);
  await recorder.untilState('terminated');
  const trace = recorder.trace().filter((l) => !l.startsWith('console'));
  t.deepEqual(trace, [
    'initializing/starting',
    `initializing/fetching_image: image ${f.imageId}`,
    'initializing/allocating',
    'initializing/provisioning',
    trace[4]!,
    'ready',
    'ready: testing',
    'declare success',
    trace[8]!,
    'terminated',
  ]);
  t.regex(trace[4]!, /^initializing\/booting: tml-puppet daemon on control socket 127\.0\.0\.1:\d+$/);
  t.regex(trace[8]!, /^terminating: (the workload asked to terminate the job|the boot script exited with code 0)$/);
  t.true(recorder.trace().some((l) => l === 'console test passed\n'));
  t.deepEqual(await readdir(workDir), [], 'the job directory is removed');
});

test('a corrupt image ends ImageInvalid and never starts the boot script', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\ntouch "$TML_PARAMETERS_DIR/../ran"\n');
  t.teardown(f.cleanup);
  await writeFile(blobPath(f.storeDir, f.manifest.blobs.boot!.digest), '#!/bin/sh\necho evil\n');
  const { recorder, runner, workDir } = await runnerFor(f);
  start(runner, f);
  await recorder.untilState('terminated');
  t.deepEqual(recorder.trace().slice(-2, -1), ['error ImageInvalid']);
  const error = recorder.sent.find((s) => s.event.type === 'error')!.event;
  t.like(error, { error: { error_kind: 'ImageInvalid' } });
  t.regex(JSON.stringify(error), /failed verification/);
  t.false(recorder.trace().includes('initializing/provisioning'));
  t.deepEqual(await readdir(workDir), []);
});

test('a missing image ends ImageNotFound naming the image', async (t) => {
  const f = await imageWithBootScript('#!/bin/sh\n');
  t.teardown(f.cleanup);
  const { recorder, runner } = await runnerFor(f);
  runner.start(startMessage({ image_spec: { type: 'image', image_id: 'e'.repeat(64) } }));
  await recorder.untilState('terminated');
  const error = recorder.sent.find((s) => s.event.type === 'error')!.event;
  t.regex(
    JSON.stringify(error),
    new RegExp(`"error_kind":"ImageNotFound","description":"image ${'e'.repeat(64)} is not usable`),
  );
});

test('stop_job kills the boot script process group and ends the job', async (t) => {
  const f = await imageWithBootScript(`#!/bin/sh
sleep 300 &
echo $! > "$TML_PARAMETERS_DIR/../sleeper.pid"
echo sleeping
wait
`);
  t.teardown(f.cleanup);
  const { recorder, runner, workDir } = await runnerFor(f);
  start(runner, f);
  await recorder.until((s) => s.event.type === 'console_log');
  const [jobDir] = await readdir(workDir);
  const sleeper = Number(await readFile(join(workDir, jobDir!, 'sleeper.pid'), 'utf8'));
  t.true(alive(sleeper));
  runner.stop(JOB_ID);
  await recorder.untilState('terminated');
  t.false(alive(sleeper));
  t.deepEqual(recorder.trace().slice(-2), ['terminating: stop requested by the switchboard', 'terminated']);
  t.false(recorder.trace().includes('declare unknown'));
});
