import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jobRequest, startHarness, tempDir } from './harness.js';
import { adminOk, serve } from './process.js';

test('a user at the queued-jobs limit is refused with 429 queue_limit; other users are not', async (t) => {
  const h = await startHarness({ maxQueuedJobsPerUser: 2 });
  await h.addSupervisor('s', 'board:x');
  const req = jobRequest({ tag_config: 'board:x' });
  const first = await h.api(h.tokens.alice, 'POST', '/jobs/new', req);
  t.is((await h.api(h.tokens.alice, 'POST', '/jobs/new', req)).status, 200);
  const refused = await h.api(h.tokens.alice, 'POST', '/jobs/new', req);
  t.is(refused.status, 429);
  t.is(refused.json.type, 'queue_limit');
  t.regex(refused.json.message, /2 jobs queued, the most one user may have is 2/);
  t.is((await h.api(h.tokens.bob, 'POST', '/jobs/new', req)).status, 200);
  // A job that leaves the queue frees its place.
  await h.api(h.tokens.alice, 'DELETE', `/jobs/${first.json.job_id}`);
  t.is((await h.api(h.tokens.alice, 'POST', '/jobs/new', req)).status, 200);
  await h.close();
});

test("requests that come at once are queued together, each counted against its owner's limit", async (t) => {
  const h = await startHarness({ maxQueuedJobsPerUser: 3 });
  try {
    await h.addSupervisor('s', 'board:none-connected');
    const req = jobRequest({ tag_config: 'board:none-connected' });
    const answers = await Promise.all([
      ...Array.from({ length: 8 }, () => h.api(h.tokens.alice, 'POST', '/jobs/new', req)),
      h.api(h.tokens.bob, 'POST', '/jobs/new', req),
    ]);
    const alice = answers.slice(0, 8).map((a) => a.status);
    t.deepEqual([alice.filter((s) => s === 200).length, alice.filter((s) => s === 429).length], [3, 5]);
    t.is(answers[8]!.status, 200);
    const listed = await h.api(h.tokens.alice, 'GET', '/jobs');
    t.is(Object.keys(listed.json.jobs).length, 3);
  } finally {
    await h.close();
  }
});

test('a job that would pass the queued-bytes limit is refused with 429 queue_limit, naming the sizes', async (t) => {
  const h = await startHarness({ maxQueuedBytesPerUser: 10_000 });
  await h.addSupervisor('s', '');
  const big = jobRequest({ parameters: { blob: { value: 'x'.repeat(6000), secret: true } } });
  t.is((await h.api(h.tokens.alice, 'POST', '/jobs/new', big)).status, 200);
  const refused = await h.api(h.tokens.alice, 'POST', '/jobs/new', big);
  t.is(refused.status, 429);
  t.is(refused.json.type, 'queue_limit');
  t.regex(refused.json.message, /would pass the limit of 10000 bytes per user/);
  t.false(refused.text.includes('xxxx'));
  t.is((await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest())).status, 200);
  await h.close();
});

const rssBytes = (pid: number): number =>
  Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

const MiB = 1024 * 1024;

test('memory does not grow with what users queue, before or after a restart, nor does their listing; limits count what was queued', async (t) => {
  const { dir, cleanup } = tempDir();
  const db = join(dir, 'sb.sqlite');
  adminOk(['user', 'add', 'alice', '--db', db]);
  const token = adminOk(['token', 'create', '--db', db, '--user', 'alice']);
  adminOk(['supervisor', 'add', 'nowhere', '--db', db, '--tags', 'board:x']);
  const JOBS = 150;
  // Just under the 1 MiB body limit: 150 MiB of requests in all.
  const body = JSON.stringify(jobRequest({ parameters: { blob: { value: 'x'.repeat(MiB - 400), secret: false } } }));
  const post = (url: string) =>
    fetch(`${url}/api/v1/jobs/new`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
  let sb = await serve(db, ['--max-queued-jobs', String(JOBS), '--max-queued-bytes', '1G']);
  try {
    const before = rssBytes(sb.child.pid!);
    for (let i = 0; i < JOBS; i++) t.is((await post(sb.url)).status, 200);
    const after = rssBytes(sb.child.pid!);
    t.log(`RSS ${Math.round(before / MiB)} MiB before, ${Math.round(after / MiB)} MiB after ${JOBS} jobs of 1 MiB`);
    t.true(after - before < 100 * MiB, `RSS grew by ${Math.round((after - before) / MiB)} MiB`);
    // Listing them reads no request: a small answer, quickly.
    const started = Date.now();
    const list = await fetch(`${sb.url}/api/v1/jobs?limit=10000`, { headers: { authorization: `Bearer ${token}` } });
    const text = await list.text();
    t.is(list.status, 200);
    t.is(Object.keys((JSON.parse(text) as { jobs: object }).jobs).length, JOBS);
    t.true(text.length < 256 * 1024, `GET /jobs answered ${text.length} bytes`);
    t.log(`GET /jobs of ${JOBS} jobs of 1 MiB: ${text.length} bytes in ${Date.now() - started} ms`);
    sb.child.kill('SIGTERM');
    await sb.exited;
    sb = await serve(db, ['--max-queued-jobs', String(JOBS), '--max-queued-bytes', '1G']);
    const restarted = rssBytes(sb.child.pid!);
    t.log(`RSS ${Math.round(restarted / MiB)} MiB after a restart with ${JOBS} queued jobs`);
    t.true(restarted < before + 32 * MiB, `RSS after restart ${Math.round(restarted / MiB)} MiB`);
    const refused = await post(sb.url);
    t.is(refused.status, 429);
    t.is(((await refused.json()) as { type: string }).type, 'queue_limit');
  } finally {
    sb.child.kill('SIGTERM');
    await sb.exited;
    cleanup();
  }
});
