// The behaviour every switchboard store must have, written once: `storeConformance(name, open)`
// registers these tests for one implementation (store.test.ts runs them against each).

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { StoreConflict, type JobUpdate, type ListedJobsQuery, type SwitchboardStore } from '../../switchboard/store.js';
import { JobStore } from '../../switchboard/jobs.js';
import { storedJobRequest } from './harness.js';

export interface OpenedStore {
  store: SwitchboardStore;
  /** Closes the store and removes what it kept. */
  dispose(): Promise<void>;
}

const jobId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const ended = (id: string, at: number): JobUpdate => ({
  id,
  state: 'terminated',
  stage: null,
  status_message: 'done',
  exit_status: 'job_canceled',
  exit_message: 'by test',
  supervisor_id: null,
  scheduled_at: null,
  updated_at: at,
  terminated_at: at,
});

const event = (id: string, statusMessage: string) => ({
  job_id: id,
  at: 1,
  kind: 'state' as const,
  by: 'switchboard' as const,
  state: 'terminated' as const,
  stage: null,
  status_message: statusMessage,
  exit_status: null,
});

/** `group` is the `test` of a group that needs an outside server (see helpers/tools.ts). */
export function storeConformance(
  name: string,
  open: () => Promise<OpenedStore>,
  group: (title: string, impl: (t: ExecutionContext) => Promise<void>) => void = test,
): void {
  const withStore = (title: string, body: (t: ExecutionContext, store: SwitchboardStore) => Promise<void>) =>
    group(`${name}: ${title}`, async (t) => {
      const { store, dispose } = await open();
      try {
        await body(t, store);
      } finally {
        await dispose();
      }
    });

  withStore('a NUL character in a text reads back as U+FFFD, and a lookup with one finds nothing', async (t, store) => {
    const owner = (await store.addUser('n', null, false)).id;
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    await store.updateJob({ ...ended(jobId(1), 2), status_message: 'a\0b', exit_message: '\0' });
    const job = (await store.job(jobId(1)))!;
    t.is(job.status_message, 'a\uFFFDb');
    t.is(job.exit_message, '\uFFFD');
    t.is(await store.userByIdentifier('n\0'), undefined);
  });

  withStore('a job inserted is returned as stored: queued, with empty console bounds', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    const row = await store.insertJob(jobId(1), owner, storedJobRequest(), 7);
    t.deepEqual(row, await store.job(jobId(1)));
    t.like(row, { state: 'queued', queued_at: 7, updated_at: 7, log_start: 0, log_end: 0, supervisor_id: null });
  });

  withStore('jobs inserted together are enqueued in the order given, across statements', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    const ids = Array.from({ length: 70 }, (_, i) => jobId(i + 1)).reverse();
    const rows = await store.insertJobs(
      ids.map((id) => ({ id, ownerId: owner, request: storedJobRequest() })),
      3,
    );
    t.deepEqual(
      rows.map((r) => r.id),
      ids,
    );
    t.true(rows.every((r, i) => i === 0 || r.seq > rows[i - 1]!.seq));
    t.deepEqual(rows[5], await store.job(ids[5]!));
  });

  withStore('a batch of jobs one of whose ids is taken stores none of them', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    await store.insertJob(jobId(2), owner, storedJobRequest(), 1);
    const batch = [1, 2, 3].map((n) => ({ id: jobId(n), ownerId: owner, request: storedJobRequest() }));
    await t.throwsAsync(() => store.insertJobs(batch, 2), { instanceOf: StoreConflict });
    t.is(await store.job(jobId(1)), undefined);
    t.is(await store.job(jobId(3)), undefined);
  });

  withStore(
    'in a transaction, what was written is read back before it commits, in the order written',
    async (t, store) => {
      const owner = (await store.addUser('o', null, false)).id;
      await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
      await store.transaction(async (tx) => {
        await tx.updateJob({ ...ended(jobId(1), 2), status_message: 'first' });
        await tx.insertEvents([event(jobId(1), 'first')]);
        t.is((await tx.job(jobId(1)))?.status_message, 'first');
        // A second write of the same row and table, after the first.
        await tx.updateJob({ ...ended(jobId(1), 3), status_message: 'second' });
        await tx.insertEvents([event(jobId(1), 'second')]);
        await tx.setLogBounds(jobId(1), 0, 0);
      });
      t.is((await store.job(jobId(1)))?.status_message, 'second');
      t.deepEqual(
        (await store.events(jobId(1))).map((e) => e.status_message),
        ['first', 'second'],
      );
    },
  );

  withStore('a write refused at the end of a transaction keeps none of it', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    await t.throwsAsync(
      () =>
        store.transaction(async (tx) => {
          await tx.updateJob({ ...ended(jobId(1), 2), status_message: 'kept?' });
          // A second chunk at an offset already stored breaks the log's primary key.
          await tx.insertLog(jobId(1), 0, 0, Buffer.from('a'), 1024);
          await tx.insertLog(jobId(1), 0, 0, Buffer.from('b'), 1024);
        }),
      { any: true },
    );
    t.is((await store.job(jobId(1)))?.state, 'queued');
  });

  withStore('a job scheduled on a supervisor is in progress on it until it ends', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    const sup = await store.addSupervisor('s', 'board:x', Buffer.alloc(32, 7));
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    t.deepEqual(await store.activeJobsOf(sup.id), []);
    await store.updateJob({ ...ended(jobId(1), 2), state: 'scheduled', exit_status: null, supervisor_id: sup.id });
    t.deepEqual(await store.activeJobsOf(sup.id), [jobId(1)]);
    await store.updateJob({ ...ended(jobId(1), 3), supervisor_id: sup.id });
    t.deepEqual(await store.activeJobsOf(sup.id), []);
  });

  withStore(
    'in one batch, a supervisor whose job ended takes the next, and one given a job takes no other',
    async (t, store) => {
      const owner = (await store.addUser('o', null, false)).id;
      const sup = await store.addSupervisor('s', 'board:x', Buffer.alloc(32, 7));
      for (const n of [1, 2, 3]) await store.insertJob(jobId(n), owner, storedJobRequest(), n);
      const jobs = new JobStore(store);
      const start = (n: number) =>
        jobs.apply(jobId(n), {
          actor: 'switchboard',
          state: { to: 'scheduled', supervisorId: sup.id },
          expectState: 'queued',
          idleSupervisor: sup.id,
          readRequest: true,
        });
      t.true((await start(1)).ok);
      await jobs.batch(async () => {
        const drop = await jobs.apply(jobId(1), {
          actor: 'switchboard',
          exitStatus: { to: 'supervisor_dropped_job', message: 'test' },
          state: { to: 'terminated' },
        });
        t.true(drop.ok);
        t.true((await start(2)).ok, 'the job that ended no longer counts');
        t.like(await start(3), { ok: false, reason: `supervisor ${sup.id} runs job ${jobId(2)}` });
      });
      t.deepEqual(await store.activeJobsOf(sup.id), [jobId(2)]);
      t.is((await store.job(jobId(3)))?.state, 'queued');
    },
  );

  withStore('an open store answers a ping', async (t, store) => {
    await t.notThrowsAsync(() => store.ping());
  });

  withStore('a user name or e-mail address names one user; both are taken at add', async (t, store) => {
    const carol = await store.addUser('carol', null, false, 'carol@example.org');
    t.is((await store.userByIdentifier('carol'))?.id, carol.id);
    t.is((await store.userByIdentifier('CAROL@example.org'))?.id, carol.id);
    t.is(await store.userByName('carol@example.org'), undefined);
    t.is(await store.userByIdentifier('nobody'), undefined);
    t.deepEqual(await store.userById(carol.id), carol);
    await t.throwsAsync(() => store.addUser('carol@example.org', null, false), {
      instanceOf: StoreConflict,
      message: /already exists/,
    });
    await t.throwsAsync(() => store.addUser('dave', null, false, 'Carol@Example.org'), {
      instanceOf: StoreConflict,
      message: /already taken/,
    });
    await t.throwsAsync(() => store.addUser('erin', null, false, 'carol'), {
      instanceOf: StoreConflict,
      message: /already taken/,
    });
  });

  withStore('a token names its owner until it expires, and pruning removes only expired tokens', async (t, store) => {
    const u = await store.addUser('u', 'hash', true);
    await store.addToken(Buffer.alloc(32, 1), u.id, null);
    await store.addToken(Buffer.alloc(32, 2), u.id, 1000);
    const owner = await store.tokenByHash(Buffer.alloc(32, 1));
    t.is(owner?.name, 'u');
    t.is(owner?.is_admin, 1);
    t.is(owner?.expires_at, null);
    t.true(owner?.token_hash.equals(Buffer.alloc(32, 1)));
    t.is(await store.tokenByHash(Buffer.alloc(32, 3)), undefined);
    t.is(await store.pruneExpiredTokens(1000), 1);
    t.is(await store.tokenByHash(Buffer.alloc(32, 2)), undefined);
    t.truthy(await store.tokenByHash(Buffer.alloc(32, 1)));
  });

  withStore('users are listed, locked and removed; one who owns jobs is not removed', async (t, store) => {
    const a = await store.addUser('a', null, false);
    const b = await store.addUser('b', null, false);
    await store.addToken(Buffer.alloc(32, 1), b.id, null);
    await store.insertJob(jobId(1), a.id, storedJobRequest(), 1);
    t.deepEqual(
      (await store.users()).map((u) => u.name),
      ['a', 'b'],
    );
    await store.setUserLocked(a.id, 42);
    t.is((await store.userById(a.id))?.locked_at, 42);
    t.is((await store.tokenByHash(Buffer.alloc(32, 1)))?.locked_at, null);
    await store.setUserLocked(a.id, null);
    t.is((await store.userById(a.id))?.locked_at, null);
    t.is(await store.removeUser(a.id), 'has_jobs');
    t.is(await store.removeUser(b.id), 'removed');
    t.is(await store.removeUser(b.id), 'not_found');
    t.is(await store.tokenByHash(Buffer.alloc(32, 1)), undefined);
  });

  withStore('tokens are listed with their owners, newest first, and removed by hash', async (t, store) => {
    const u = await store.addUser('u', null, false);
    await store.addToken(Buffer.alloc(32, 1), u.id, 5);
    const listed = await store.tokens();
    t.is(listed.length, 1);
    t.like(listed[0], { user_id: u.id, user_name: 'u', expires_at: 5 });
    t.true(listed[0]!.token_hash.equals(Buffer.alloc(32, 1)));
    t.true(await store.removeToken(Buffer.alloc(32, 1)));
    t.false(await store.removeToken(Buffer.alloc(32, 1)));
    t.deepEqual(await store.tokens(), []);
  });

  withStore('a supervisor is retagged; removed only with no job in progress, its past jobs kept', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    const s = await store.addSupervisor('s', 'a', Buffer.alloc(32, 1));
    await store.setSupervisorTags(s.id, 'b;c');
    t.is((await store.supervisorById(s.id))?.tags, 'b;c');
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    await store.updateJob({
      ...ended(jobId(1), 2),
      state: 'ready',
      terminated_at: null,
      exit_status: null,
      supervisor_id: s.id,
    });
    t.is(await store.removeSupervisor(s.id), 'has_active_jobs');
    await store.updateJob({ ...ended(jobId(1), 3), supervisor_id: s.id });
    t.is(await store.removeSupervisor(s.id), 'removed');
    t.is(await store.supervisorById(s.id), undefined);
    t.like(await store.job(jobId(1)), { state: 'terminated', supervisor_id: null });
    t.is(await store.removeSupervisor(s.id), 'not_found');
  });

  withStore(
    "a user's own tokens are listed unexpired, up to the limit, and removed only by their holder",
    async (t, store) => {
      const u = await store.addUser('u', null, false);
      const other = await store.addUser('other', null, false);
      const created = await store.addToken(Buffer.alloc(32, 1), u.id, null);
      await store.addToken(Buffer.alloc(32, 2), u.id, 3000);
      await store.addToken(Buffer.alloc(32, 3), u.id, 1000);
      await store.addToken(Buffer.alloc(32, 4), other.id, null);
      const mine = await store.userTokens(u.id, 2000, 10);
      t.deepEqual(mine.map((r) => r.token_hash[0]).sort(), [1, 2]);
      t.deepEqual(
        mine.find((r) => r.token_hash[0] === 1),
        { token_hash: Buffer.alloc(32, 1), created_at: created, expires_at: null },
      );
      t.is((await store.userTokens(u.id, 2000, 1)).length, 1);
      t.false(await store.removeUserToken(other.id, Buffer.alloc(32, 1)));
      t.true(await store.removeUserToken(u.id, Buffer.alloc(32, 1)));
      t.false(await store.removeUserToken(u.id, Buffer.alloc(32, 1)));
      t.deepEqual(
        (await store.userTokens(u.id, 2000, 10)).map((r) => r.token_hash[0]),
        [2],
      );
      t.truthy(await store.tokenByHash(Buffer.alloc(32, 4)));
    },
  );

  withStore('a supervisor was last seen at the newest event it sent for one of its jobs', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    const s = await store.addSupervisor('s', 'a', Buffer.alloc(32, 1));
    t.is(await store.supervisorLastSeen(s.id), null);
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    await store.updateJob({
      ...ended(jobId(1), 2),
      state: 'ready',
      terminated_at: null,
      exit_status: null,
      supervisor_id: s.id,
    });
    const event = { job_id: jobId(1), stage: null, exit_status: null, kind: 'state' as const, status_message: null };
    await store.insertEvents([{ ...event, by: 'supervisor', at: 5, state: 'initializing' }]);
    await store.insertEvents([{ ...event, by: 'supervisor', at: 7, state: 'ready' }]);
    await store.insertEvents([{ ...event, by: 'switchboard', at: 9, state: 'terminating' }]);
    t.is(await store.supervisorLastSeen(s.id), 7);
  });

  withStore('supervisors are listed by name; a second name or id is refused', async (t, store) => {
    const b = await store.addSupervisor('b', 'x;y', Buffer.alloc(32, 1));
    await store.addSupervisor('a', '', Buffer.alloc(32, 2), '11111111-2222-4333-8444-555555555555');
    t.deepEqual(
      (await store.supervisors()).map((s) => s.name),
      ['a', 'b'],
    );
    t.deepEqual(await store.supervisorById(b.id), b);
    await t.throwsAsync(() => store.addSupervisor('b', '', Buffer.alloc(32, 3)), { instanceOf: StoreConflict });
    await t.throwsAsync(
      () => store.addSupervisor('c', '', Buffer.alloc(32, 3), '11111111-2222-4333-8444-555555555555'),
      {
        instanceOf: StoreConflict,
      },
    );
  });

  withStore('a job reads back without its request, which is read on its own', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    const req = storedJobRequest({
      tag_config: 'board:x',
      override_timeout: 60,
      restart_of: jobId(9),
      parameters: { k: { value: 'v'.repeat(1000), secret: true } },
    });
    await store.insertJob(jobId(1), owner, req, 5);
    const job = (await store.job(jobId(1)))!;
    t.like(job, { id: jobId(1), owner_id: owner, state: 'queued', tag_config: 'board:x', queued_at: 5, log_end: 0 });
    t.like(job, { override_timeout: 60, restart_of: jobId(9) });
    t.deepEqual(JSON.parse(job.init_spec), req.init_spec);
    t.false('request' in job);
    t.deepEqual(await store.jobRequest(jobId(1)), req);
    t.deepEqual(await store.transaction((tx) => tx.jobAndRequestUnlessLocked(jobId(1))), { job, request: req });
    t.is(await store.job(jobId(2)), undefined);
    t.is(await store.jobRequest(jobId(2)), undefined);
    t.is(await store.transaction((tx) => tx.jobAndRequestUnlessLocked(jobId(2))), undefined);
  });

  withStore('active jobs come in enqueue order; listings newest first, per owner or all', async (t, store) => {
    const a = (await store.addUser('a', null, false)).id;
    const b = (await store.addUser('b', null, false)).id;
    for (let n = 1; n <= 4; n++) await store.insertJob(jobId(n), n % 2 ? a : b, storedJobRequest(), n);
    await store.updateJob(ended(jobId(2), 10));
    t.deepEqual(
      (await store.activeJobs()).map((j) => j.id),
      [jobId(1), jobId(3), jobId(4)],
    );
    const ids = async (query: Parameters<SwitchboardStore['jobPage']>[0]) =>
      (await store.jobPage(query)).map((j) => j.id);
    t.deepEqual(await ids({ limit: 3 }), [jobId(4), jobId(3), jobId(2)]);
    t.deepEqual(await ids({ limit: 10, ownerId: a }), [jobId(3), jobId(1)]);
    const fourth = (await store.job(jobId(4)))!.seq;
    t.deepEqual(await ids({ limit: 10, beforeSeq: fourth }), [jobId(3), jobId(2), jobId(1)]);
    t.deepEqual(await ids({ limit: 10, state: 'terminated' }), [jobId(2)]);
    t.deepEqual(await ids({ limit: 10, exitStatus: 'job_canceled' }), [jobId(2)]);
    t.deepEqual(await ids({ limit: 10, queuedFrom: 3 }), [jobId(4), jobId(3)]);
    const big = storedJobRequest({ parameters: { k: { value: 'é'.repeat(100), secret: false } } });
    await store.insertJob(jobId(5), a, big, 5);
    t.is((await store.activeJobs()).at(-1)!.request_bytes, Buffer.byteLength(JSON.stringify(big)));
  });

  withStore("an update writes the job's lifecycle columns and leaves its log bounds", async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    const { start, end } = await store.insertLog(jobId(1), 0, 0, Buffer.from('hello'), 100);
    await store.setLogBounds(jobId(1), start, end);
    await store.updateJob({ ...ended(jobId(1), 7) });
    t.like(await store.job(jobId(1)), {
      state: 'terminated',
      status_message: 'done',
      exit_status: 'job_canceled',
      exit_message: 'by test',
      terminated_at: 7,
      log_start: 0,
      log_end: 5,
    });
  });

  withStore('an update given console bounds writes them with the row', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    const log = await store.insertLog(jobId(1), 0, 0, Buffer.from('hello'), 3);
    await store.updateJob({ ...ended(jobId(1), 7), log });
    t.like(await store.job(jobId(1)), { state: 'terminated', log_start: log.start, log_end: 5 });
    t.deepEqual(log, { start: 0, end: 5 });
  });

  withStore(
    "the web console's job list filters by each field, with the owner's and supervisor's names",
    async (t, store) => {
      const alice = (await store.addUser('alice', null, false)).id;
      const bob = (await store.addUser('bob', null, false)).id;
      const sup = await store.addSupervisor('rack-1', '', Buffer.alloc(32, 1));
      await store.insertJob(jobId(1), alice, storedJobRequest({ tag_config: 'board:nrf;site:lab' }), 10);
      await store.insertJob(
        jobId(2),
        bob,
        storedJobRequest({ init_spec: { type: 'image', image_id: 'cd'.repeat(32) } }),
        20,
      );
      await store.insertJob(jobId(3), bob, storedJobRequest({ tag_config: 'x_y%z' }), 30);
      await store.updateJob({ ...ended(jobId(2), 25), supervisor_id: sup.id });
      const ids = async (query: Partial<ListedJobsQuery>) =>
        (await store.listedJobs({ limit: 10, ...query })).map((r) => Number(r.id.slice(-1)));
      t.deepEqual(await ids({}), [3, 2, 1]);
      t.like(await store.listedJobs({ limit: 10, ownerName: 'bob', supervisor: 'rack-1' }), [
        { id: jobId(2), owner_name: 'bob', supervisor_name: 'rack-1' },
      ]);
      t.deepEqual(await ids({ supervisor: sup.id }), [2]);
      t.deepEqual(await ids({ ownerId: alice }), [1]);
      t.deepEqual(await ids({ state: 'terminated', exitStatus: 'job_canceled' }), [2]);
      t.deepEqual(await ids({ tagText: 'nrf;site' }), [1]);
      // %, _ and backslash in the text are literal characters, not patterns.
      t.deepEqual(await ids({ tagText: '_y%' }), [3]);
      t.deepEqual(await ids({ tagText: 'x%z' }), []);
      t.deepEqual(await ids({ imagePrefix: 'cdcd' }), [2]);
      t.deepEqual(await ids({ imagePrefix: 'ab' }), [3, 1]);
      t.deepEqual(await ids({ queuedFrom: 20, queuedUntil: 30 }), [2]);
      t.deepEqual(await ids({ beforeSeq: (await store.job(jobId(3)))!.seq, limit: 1 }), [2]);
      t.is((await store.listedJobs({ limit: 10 }))[2]!.supervisor_name, null);
    },
  );

  withStore('events read back in the order they were written', async (t, store) => {
    const owner = (await store.addUser('o', null, false)).id;
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    const base = { job_id: jobId(1), by: 'switchboard' as const, stage: null, exit_status: null };
    await store.insertEvents([
      { ...base, at: 2, kind: 'state', state: 'queued', status_message: null },
      { ...base, at: 1, kind: 'sub_state', state: 'queued', status_message: 'second' },
    ]);
    const events = await store.events(jobId(1));
    t.deepEqual(
      events.map((e) => [e.kind, e.at, e.status_message]),
      [
        ['state', 2, null],
        ['sub_state', 1, 'second'],
      ],
    );
    t.true(events[0]!.seq < events[1]!.seq);
    t.deepEqual(await store.events(jobId(2)), []);
    t.deepEqual(
      (await store.events(jobId(1), events[0]!.seq, 10)).map((e) => e.seq),
      [events[1]!.seq],
    );
    t.deepEqual(
      (await store.events(jobId(1), 0, 1)).map((e) => e.seq),
      [events[0]!.seq],
    );
    t.is(await store.eventCount(jobId(1)), 2);
    t.is(await store.eventCount(jobId(2)), 0);
  });

  withStore('a transaction that throws writes nothing; a nested one joins it', async (t, store) => {
    await t.throwsAsync(() =>
      store.transaction(async (tx) => {
        await tx.addUser('gone', null, false);
        await tx.transaction((inner) => inner.addUser('also-gone', null, false));
        throw new Error('abort');
      }),
    );
    t.is(await store.userByName('gone'), undefined);
    t.is(await store.userByName('also-gone'), undefined);
    t.is(await store.transaction(async (tx) => (await tx.addUser('kept', null, false)).name), 'kept');
    t.truthy(await store.userByName('kept'));
  });

  withStore("the newest chunk's offset is known; a job without log has none", async (t, store) => {
    const owner = (await store.addUser('l', null, false)).id;
    await store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    t.is(await store.lastLogOffset(jobId(1)), undefined);
    const first = await store.insertLog(jobId(1), 0, 0, Buffer.from('abc'), 100);
    await store.insertLog(jobId(1), first.start, first.end, Buffer.from('de'), 100);
    t.is(await store.lastLogOffset(jobId(1)), 3);
  });

  withStore('a session logs its user in until removed, and not while the user is locked out', async (t, store) => {
    const u = await store.addUser('u', null, true);
    await store.addSession(Buffer.alloc(32, 1), u.id, 100, 200);
    t.like(await store.session(Buffer.alloc(32, 1)), { id: u.id, name: 'u', is_admin: 1, expires_at: 200 });
    t.is(await store.session(Buffer.alloc(32, 2)), undefined);
    await store.setUserLocked(u.id, 150);
    t.is(await store.session(Buffer.alloc(32, 1)), undefined);
    await store.setUserLocked(u.id, null);
    await store.removeSession(Buffer.alloc(32, 1));
    t.is(await store.session(Buffer.alloc(32, 1)), undefined);
  });

  withStore('adding a session removes those expired by then', async (t, store) => {
    const u = await store.addUser('u', null, false);
    await store.addSession(Buffer.alloc(32, 1), u.id, 100, 200);
    await store.addSession(Buffer.alloc(32, 2), u.id, 200, 300);
    t.is(await store.session(Buffer.alloc(32, 1)), undefined);
    t.truthy(await store.session(Buffer.alloc(32, 2)));
  });

  withStore(
    'console time marks: the one in force at a window start comes first; older ones go as the log is cut',
    async (t, store) => {
      const id = jobId(1);
      await store.putConsoleTime(id, 0, 10, 0);
      await store.putConsoleTime(id, 100, 20, 0);
      await store.putConsoleTime(id, 200, 30, 0);
      await store.putConsoleTime(id, 200, 35, 0);
      t.deepEqual(await store.consoleTimes(id, 150, 1000, 10), [
        { offset: 100, at: 20 },
        { offset: 200, at: 35 },
      ]);
      t.deepEqual(await store.consoleTimes(id, 0, 150, 1), [{ offset: 0, at: 10 }]);
      await store.putConsoleTime(id, 300, 40, 250);
      t.deepEqual(
        (await store.consoleTimes(id, 0, 1000, 10)).map((m) => m.offset),
        [200, 300],
      );
      t.deepEqual(await store.consoleTimes(jobId(2), 0, 1000, 10), []);
    },
  );

  withStore('the console log keeps the newest bytes and reads back exactly from any kept offset', async (t, store) => {
    const owner = (await store.addUser('l', null, false)).id;
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 50 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 300 }),
        fc.nat(),
        async (chunks, keep, pick) => {
          const id = jobId(n++);
          await store.insertJob(id, owner, storedJobRequest(), Date.now());
          let start = 0;
          let end = 0;
          for (const c of chunks) ({ start, end } = await store.insertLog(id, start, end, Buffer.from(c), keep));
          await store.setLogBounds(id, start, end);
          const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          if (end !== all.length || end - start < Math.min(keep, end)) return false;
          // Whatever is kept may exceed `keep` by less than one chunk.
          if (end - start >= keep + 50) return false;
          const job = (await store.job(id))!;
          if (job.log_start !== start || job.log_end !== end) return false;
          const from = start + (pick % (end - start + 1));
          const got = Buffer.concat(
            (await store.readLog(id, from, 1000)).map((c) => c.data.subarray(Math.max(0, from - c.offset))),
          );
          return got.equals(all.subarray(from));
        },
      ),
      { numRuns: 150 },
    );
    t.pass();
  });
}
