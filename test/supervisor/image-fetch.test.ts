// Fetch on demand: a job whose image the supervisor's store lacks has it pulled from a mirror first,
// with progress as fetching_image status messages; a failing mirror ends the job with the reason.

import test, { type ExecutionContext } from 'ava';
import { silentLogger } from '../../protocol/log.js';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blobRelPath, createImage, imageRelPath, readManifest, verifyStore } from '../../imagetool/index.js';
import { LocalHostBackend, LOCAL_ENTRYPOINT_ATTR } from '../../supervisor/hosts/local.js';
import { findPuppet } from '../../supervisor/hosts/puppet-command.js';
import { fetchStatus, ImageFetcher, parseImageMirrors } from '../../supervisor/image-fetch.js';
import { loadVerifiedImage } from '../../supervisor/image-loader.js';
import { JobRunner } from '../../supervisor/job-runner.js';
import { tempDir } from '../imagetool/helpers.js';
import { MirrorServer } from '../imagetool/mirror-server.js';
import { FakeBackend, Recorder, startMessage } from './fakes.js';

const MiB = 1 << 20;

/** A mirror serving one image: a boot script that finishes the job, and a 2 MiB data blob. */
async function mirrorWithImage(t: ExecutionContext) {
  const dir = await tempDir(t);
  const src = join(dir, 'mirror');
  await writeFile(join(dir, 'boot.sh'), '#!/bin/sh\nexec tml-puppet job finish --status success --terminate\n');
  await writeFile(join(dir, 'data'), randomBytes(2 * MiB));
  const imageId = await createImage(src, {
    label: 'fetched',
    attrs: { [LOCAL_ENTRYPOINT_ATTR]: 'boot' },
    blobs: { boot: { path: join(dir, 'boot.sh') }, data: { path: join(dir, 'data') } },
  });
  const server = await MirrorServer.start(t, src);
  const dataRel = blobRelPath((await readManifest(src, imageId)).blobs.data!.digest);
  return { dir, imageId, server, dataRel, store: join(dir, 'supervisor-store') };
}

function runner(store: string, fetcher: ImageFetcher, host = new FakeBackend() as LocalHostBackend | FakeBackend) {
  const recorder = new Recorder();
  const jobs = new JobRunner({
    send: recorder.push,
    loadImage: (id, onStatus) => loadVerifiedImage(store, id, { fetcher, onStatus }),
    allocateJobDir: (jobId) => mkdtemp(join(store, '..', `job-${jobId.slice(0, 8)}-`)),
    releaseJobDir: (d) => rm(d, { recursive: true, force: true }),
    host,
    storeDir: store,
    log: silentLogger,
  });
  return { recorder, jobs };
}

test('a job whose image is not in the store has it fetched, with progress as fetching_image status, then runs', async (t) => {
  const m = await mirrorWithImage(t);
  // Slow enough for more than one progress message (they are sent at most once a second).
  m.server.fault(`/${m.dataRel}`, { bytesPerSecond: 1.5 * MiB }, 1);
  const fetcher = new ImageFetcher({ storeDir: m.store, mirrors: [m.server.url], log: silentLogger });
  const host = new LocalHostBackend({ puppet: findPuppet(), log: silentLogger, stopGraceMs: 500 });
  const { recorder, jobs } = runner(m.store, fetcher, host);
  jobs.start(startMessage({ image_spec: { type: 'image', image_id: m.imageId } }));
  await recorder.untilState('terminated');
  const trace = recorder.trace().filter((l) => !l.startsWith('console'));
  const fetching = trace.filter((l) => l.startsWith('initializing/fetching_image: fetching: '));
  t.true(fetching.length >= 2, trace.join('\n'));
  t.regex(fetching[0]!, /^initializing\/fetching_image: fetching: 0\.0 of 2\.0 MiB$/);
  t.regex(fetching.at(-1)!, /fetching: \d\.\d of 2\.0 MiB$/);
  t.true(trace.includes('declare success'), trace.join('\n'));
  t.deepEqual((await verifyStore(m.store)).findings, []);
});

test('a mirror that cannot provide the image ends the job ImageNotFound (SupervisorHostStartError) with the reason, no host started', async (t) => {
  const m = await mirrorWithImage(t);
  m.server.fault(`/${imageRelPath(m.imageId)}`, { status: 404 });
  const fetcher = new ImageFetcher({ storeDir: m.store, mirrors: [m.server.url], log: silentLogger });
  const backend = new FakeBackend();
  const { recorder, jobs } = runner(m.store, fetcher, backend);
  jobs.start(startMessage({ image_spec: { type: 'image', image_id: m.imageId } }));
  await recorder.untilState('terminated');
  const error = recorder.sent.find((s) => s.event.type === 'error')!.event as {
    error: { error_kind: string; description: string };
  };
  t.is(error.error.error_kind, 'ImageNotFound');
  t.is(
    error.error.description,
    `image ${m.imageId} could not be fetched: ${imageRelPath(m.imageId)} from ${m.server.url}${imageRelPath(m.imageId)}: not found on the mirror (HTTP 404)`,
  );
  t.deepEqual(backend.hosts, []);
});

test('a job whose image is already in the store fetches nothing', async (t) => {
  const m = await mirrorWithImage(t);
  const fetcher = new ImageFetcher({ storeDir: m.store, mirrors: [m.server.url], log: silentLogger });
  await loadVerifiedImage(m.store, m.imageId, { fetcher });
  const before = m.server.log.length;
  t.truthy(await loadVerifiedImage(m.store, m.imageId, { fetcher }));
  t.is(m.server.log.length, before);
});

test('two jobs needing the same image at once download each blob once', async (t) => {
  const m = await mirrorWithImage(t);
  m.server.fault(`/${m.dataRel}`, { bytesPerSecond: 4 * MiB }, 1);
  const fetcher = new ImageFetcher({ storeDir: m.store, mirrors: [m.server.url], log: silentLogger });
  const [a, b] = await Promise.all([
    loadVerifiedImage(m.store, m.imageId, { fetcher }),
    loadVerifiedImage(m.store, m.imageId, { fetcher }),
  ]);
  t.deepEqual(a, b);
  t.is(m.server.requests(`/${m.dataRel}`).length, 1);
});

test('the second mirror is tried when the first fails, and both reasons are named when all do', async (t) => {
  const m = await mirrorWithImage(t);
  const fetcher = new ImageFetcher({
    storeDir: m.store,
    mirrors: ['http://127.0.0.1:9/', m.server.url],
    log: silentLogger,
    retry: { attempts: 1, baseDelayMs: 10 },
  });
  t.truthy(await loadVerifiedImage(m.store, m.imageId, { fetcher }));
  const other = 'b'.repeat(64);
  const err = await t.throwsAsync(loadVerifiedImage(m.store, other, { fetcher }));
  t.regex(
    err!.message,
    new RegExp(
      `^image ${other} could not be fetched: http://127\\.0\\.0\\.1:9/: .*connection refused.*; ${m.server.url}: .*not found on the mirror`,
    ),
  );
});

test('mirror URLs are checked up front, and progress reads in MiB', (t) => {
  t.deepEqual(parseImageMirrors(['http://m.example/store']), ['http://m.example/store/']);
  t.throws(() => parseImageMirrors(['file:///srv/store']), {
    message: /^image mirror: .*only http:\/\/ and https:\/\//,
  });
  t.is(fetchStatus(312 * MiB, 940 * MiB), 'fetching: 312 of 940 MiB');
  t.is(fetchStatus(MiB / 2, 2 * MiB), 'fetching: 0.5 of 2.0 MiB');
});

test('tml-supervisor refuses a bad --image-mirror with one line, exit 2', async (t) => {
  const cli = fileURLToPath(new URL('../../supervisor/cli.js', import.meta.url));
  const child = spawn(
    process.execPath,
    [
      cli,
      '--switchboard',
      'http://127.0.0.1:9',
      '--id',
      '00000000-0000-4000-8000-000000000000',
      '--store',
      tmpdir(),
      '--image-mirror',
      'ftp://m/',
    ],
    { env: { PATH: process.env.PATH, TML_SUPERVISOR_TOKEN: 't' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: image mirror: mirror ftp://m/: only http:// and https:// are supported\n');
});
