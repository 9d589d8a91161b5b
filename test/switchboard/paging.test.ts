import test from 'ava';
import { jobRequest, startHarness, type Harness } from './harness.js';

async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness({ maxQueuedJobsPerUser: 10_000 });
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

async function enqueue(h: Harness, token: string, overrides: Parameters<typeof jobRequest>[0] = {}): Promise<string> {
  const r = await h.api(token, 'POST', '/jobs/new', jobRequest(overrides));
  if (r.status !== 200) throw new Error(r.text);
  return r.json.job_id as string;
}

test('GET /jobs pages newest first by cursor until next_cursor is null, each job once', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', 'board:x');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await enqueue(h, h.tokens.alice, { tag_config: 'board:x' }));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await h.api(h.tokens.alice, 'GET', `/jobs?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`);
      t.is(r.status, 200);
      seen.push(...Object.keys(r.json.jobs));
      cursor = r.json.next_cursor;
      pages++;
    } while (cursor !== null);
    t.is(pages, 3);
    t.deepEqual(seen, ids.reverse());
  }));

test('GET /jobs filters by state, tag, supervisor and since; a tag matches whole tags only', (t) =>
  withHarness(async (h) => {
    const s = await h.addSupervisor('rack-1', 'board:x;board:xy');
    const x = await enqueue(h, h.tokens.alice, { tag_config: 'board:x' });
    const xy = await enqueue(h, h.tokens.alice, { tag_config: 'board:xy' });
    await h.api(h.tokens.alice, 'DELETE', `/jobs/${x}`);
    const keys = async (q: string) => Object.keys((await h.api(h.tokens.alice, 'GET', `/jobs?${q}`)).json.jobs);
    t.deepEqual(await keys('tag=board:x'), [x]);
    t.deepEqual(await keys('state=queued'), [xy]);
    t.deepEqual(await keys('exit_status=job_canceled'), [x]);
    t.deepEqual(await keys(`since=${new Date(Date.now() + 60_000).toISOString()}`), []);
    t.deepEqual(await keys('supervisor=rack-1'), []);
    t.deepEqual(await keys('supervisor=nowhere'), []);
    await h.sb.jobs.apply(xy, { actor: 'switchboard', state: { to: 'scheduled', supervisorId: s.id } });
    t.deepEqual(await keys('supervisor=rack-1'), [xy]);
    t.deepEqual(await keys(`supervisor=${s.id}`), [xy]);
  }));

test('a bad GET /jobs query is a 400 naming the parameter', (t) =>
  withHarness(async (h) => {
    for (const [q, why] of [
      ['limit=0', /limit must be an integer from 1 to 10000/],
      ['limit=10001', /limit must be an integer from 1 to 10000/],
      ['cursor=abc', /cursor must be the next_cursor/],
      ['state=sleeping', /state must be one of/],
      ['since=yesterday', /since must be an RFC 3339 time/],
      ['colour=red', /unknown query parameter "colour"/],
      ['limit=1&limit=2', /limit may be given once/],
    ] as const) {
      const r = await h.api(h.tokens.alice, 'GET', `/jobs?${q}`);
      t.is(r.status, 400, q);
      t.is(r.json.type, 'bad_request');
      t.regex(r.json.message, why);
    }
  }));

test('GET /jobs/:id/events pages by after, each event numbered once', (t) =>
  withHarness(async (h) => {
    await h.addSupervisor('s', '');
    const id = await enqueue(h, h.tokens.alice);
    for (let i = 0; i < 4; i++) {
      await h.sb.jobs.apply(id, { actor: 'switchboard', subState: { stage: null, statusMessage: `step ${i}` } });
    }
    const all = (await h.api(h.tokens.alice, 'GET', `/jobs/${id}/events`)).json;
    t.is(all.events.length, 5);
    t.is(all.next, null);
    const first = (await h.api(h.tokens.alice, 'GET', `/jobs/${id}/events?limit=2`)).json;
    t.deepEqual(
      first.events.map((e: { seq: number }) => e.seq),
      all.events.slice(0, 2).map((e: { seq: number }) => e.seq),
    );
    t.is(first.next, all.events[1].seq);
    const rest = (await h.api(h.tokens.alice, 'GET', `/jobs/${id}/events?after=${first.next}&limit=1000`)).json;
    t.deepEqual(
      rest.events.map((e: { status_message: string }) => e.status_message),
      ['step 1', 'step 2', 'step 3'],
    );
    t.is(rest.next, null);
    t.is((await h.api(h.tokens.alice, 'GET', `/jobs/${id}/events?limit=1001`)).status, 400);
  }));
