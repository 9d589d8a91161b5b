// The behaviour every switchboard store must have, written once: `storeConformance(name, open)`
// registers these tests for one implementation (store.test.ts runs them against each).

import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { StoreConflict, type JobUpdate, type ListedJobsQuery, type SwitchboardStore } from '../../switchboard/store.js';
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

export function storeConformance(name: string, open: () => OpenedStore): void {
  const withStore = (title: string, body: (t: ExecutionContext, store: SwitchboardStore) => void) =>
    test(`${name}: ${title}`, async (t) => {
      const { store, dispose } = open();
      try {
        body(t, store);
      } finally {
        await dispose();
      }
    });

  withStore('an open store answers a ping', (t, store) => {
    t.notThrows(() => store.ping());
  });

  withStore('a user name or e-mail address names one user; both are taken at add', (t, store) => {
    const carol = store.addUser('carol', null, false, 'carol@example.org');
    t.is(store.userByIdentifier('carol')?.id, carol.id);
    t.is(store.userByIdentifier('CAROL@example.org')?.id, carol.id);
    t.is(store.userByName('carol@example.org'), undefined);
    t.is(store.userByIdentifier('nobody'), undefined);
    t.deepEqual(store.userById(carol.id), carol);
    t.throws(() => store.addUser('carol@example.org', null, false), {
      instanceOf: StoreConflict,
      message: /already exists/,
    });
    t.throws(() => store.addUser('dave', null, false, 'Carol@Example.org'), {
      instanceOf: StoreConflict,
      message: /already taken/,
    });
    t.throws(() => store.addUser('erin', null, false, 'carol'), {
      instanceOf: StoreConflict,
      message: /already taken/,
    });
  });

  withStore('a token names its owner until it expires, and pruning removes only expired tokens', (t, store) => {
    const u = store.addUser('u', 'hash', true);
    store.addToken(Buffer.alloc(32, 1), u.id, null);
    store.addToken(Buffer.alloc(32, 2), u.id, 1000);
    const owner = store.tokenByHash(Buffer.alloc(32, 1));
    t.is(owner?.name, 'u');
    t.is(owner?.is_admin, 1);
    t.is(owner?.expires_at, null);
    t.true(owner?.token_hash.equals(Buffer.alloc(32, 1)));
    t.is(store.tokenByHash(Buffer.alloc(32, 3)), undefined);
    t.is(store.pruneExpiredTokens(1000), 1);
    t.is(store.tokenByHash(Buffer.alloc(32, 2)), undefined);
    t.truthy(store.tokenByHash(Buffer.alloc(32, 1)));
  });

  withStore('users are listed, locked and removed; one who owns jobs is not removed', (t, store) => {
    const a = store.addUser('a', null, false);
    const b = store.addUser('b', null, false);
    store.addToken(Buffer.alloc(32, 1), b.id, null);
    store.insertJob(jobId(1), a.id, storedJobRequest(), 1);
    t.deepEqual(
      store.users().map((u) => u.name),
      ['a', 'b'],
    );
    store.setUserLocked(a.id, 42);
    t.is(store.userById(a.id)?.locked_at, 42);
    t.is(store.tokenByHash(Buffer.alloc(32, 1))?.locked_at, null);
    store.setUserLocked(a.id, null);
    t.is(store.userById(a.id)?.locked_at, null);
    t.is(store.removeUser(a.id), 'has_jobs');
    t.is(store.removeUser(b.id), 'removed');
    t.is(store.removeUser(b.id), 'not_found');
    t.is(store.tokenByHash(Buffer.alloc(32, 1)), undefined);
  });

  withStore('tokens are listed with their owners, newest first, and removed by hash', (t, store) => {
    const u = store.addUser('u', null, false);
    store.addToken(Buffer.alloc(32, 1), u.id, 5);
    const listed = store.tokens();
    t.is(listed.length, 1);
    t.like(listed[0], { user_id: u.id, user_name: 'u', expires_at: 5 });
    t.true(listed[0]!.token_hash.equals(Buffer.alloc(32, 1)));
    t.true(store.removeToken(Buffer.alloc(32, 1)));
    t.false(store.removeToken(Buffer.alloc(32, 1)));
    t.deepEqual(store.tokens(), []);
  });

  withStore('a supervisor is retagged; removed only with no job in progress, its past jobs kept', (t, store) => {
    const owner = store.addUser('o', null, false).id;
    const s = store.addSupervisor('s', 'a', Buffer.alloc(32, 1));
    store.setSupervisorTags(s.id, 'b;c');
    t.is(store.supervisorById(s.id)?.tags, 'b;c');
    store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    store.updateJob({
      ...ended(jobId(1), 2),
      state: 'ready',
      terminated_at: null,
      exit_status: null,
      supervisor_id: s.id,
    });
    t.is(store.removeSupervisor(s.id), 'has_active_jobs');
    store.updateJob({ ...ended(jobId(1), 3), supervisor_id: s.id });
    t.is(store.removeSupervisor(s.id), 'removed');
    t.is(store.supervisorById(s.id), undefined);
    t.like(store.job(jobId(1)), { state: 'terminated', supervisor_id: null });
    t.is(store.removeSupervisor(s.id), 'not_found');
  });

  withStore(
    "a user's own tokens are listed unexpired, up to the limit, and removed only by their holder",
    (t, store) => {
      const u = store.addUser('u', null, false);
      const other = store.addUser('other', null, false);
      const created = store.addToken(Buffer.alloc(32, 1), u.id, null);
      store.addToken(Buffer.alloc(32, 2), u.id, 3000);
      store.addToken(Buffer.alloc(32, 3), u.id, 1000);
      store.addToken(Buffer.alloc(32, 4), other.id, null);
      const mine = store.userTokens(u.id, 2000, 10);
      t.deepEqual(mine.map((r) => r.token_hash[0]).sort(), [1, 2]);
      t.deepEqual(
        mine.find((r) => r.token_hash[0] === 1),
        { token_hash: Buffer.alloc(32, 1), created_at: created, expires_at: null },
      );
      t.is(store.userTokens(u.id, 2000, 1).length, 1);
      t.false(store.removeUserToken(other.id, Buffer.alloc(32, 1)));
      t.true(store.removeUserToken(u.id, Buffer.alloc(32, 1)));
      t.false(store.removeUserToken(u.id, Buffer.alloc(32, 1)));
      t.deepEqual(
        store.userTokens(u.id, 2000, 10).map((r) => r.token_hash[0]),
        [2],
      );
      t.truthy(store.tokenByHash(Buffer.alloc(32, 4)));
    },
  );

  withStore('a supervisor was last seen at the newest event it sent for one of its jobs', (t, store) => {
    const owner = store.addUser('o', null, false).id;
    const s = store.addSupervisor('s', 'a', Buffer.alloc(32, 1));
    t.is(store.supervisorLastSeen(s.id), null);
    store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    store.updateJob({
      ...ended(jobId(1), 2),
      state: 'ready',
      terminated_at: null,
      exit_status: null,
      supervisor_id: s.id,
    });
    const event = { job_id: jobId(1), stage: null, exit_status: null, kind: 'state' as const, status_message: null };
    store.insertEvent({ ...event, by: 'supervisor', at: 5, state: 'initializing' });
    store.insertEvent({ ...event, by: 'supervisor', at: 7, state: 'ready' });
    store.insertEvent({ ...event, by: 'switchboard', at: 9, state: 'terminating' });
    t.is(store.supervisorLastSeen(s.id), 7);
  });

  withStore('supervisors are listed by name; a second name or id is refused', (t, store) => {
    const b = store.addSupervisor('b', 'x;y', Buffer.alloc(32, 1));
    store.addSupervisor('a', '', Buffer.alloc(32, 2), '11111111-2222-4333-8444-555555555555');
    t.deepEqual(
      store.supervisors().map((s) => s.name),
      ['a', 'b'],
    );
    t.deepEqual(store.supervisorById(b.id), b);
    t.throws(() => store.addSupervisor('b', '', Buffer.alloc(32, 3)), { instanceOf: StoreConflict });
    t.throws(() => store.addSupervisor('c', '', Buffer.alloc(32, 3), '11111111-2222-4333-8444-555555555555'), {
      instanceOf: StoreConflict,
    });
  });

  withStore('a job reads back without its request, which is read on its own', (t, store) => {
    const owner = store.addUser('o', null, false).id;
    const req = storedJobRequest({
      tag_config: 'board:x',
      override_timeout: 60,
      restart_of: jobId(9),
      parameters: { k: { value: 'v'.repeat(1000), secret: true } },
    });
    store.insertJob(jobId(1), owner, req, 5);
    const job = store.job(jobId(1))!;
    t.like(job, { id: jobId(1), owner_id: owner, state: 'queued', tag_config: 'board:x', queued_at: 5, log_end: 0 });
    t.like(job, { override_timeout: 60, restart_of: jobId(9) });
    t.deepEqual(JSON.parse(job.init_spec), req.init_spec);
    t.false('request' in job);
    t.deepEqual(store.jobRequest(jobId(1)), req);
    t.is(store.job(jobId(2)), undefined);
    t.is(store.jobRequest(jobId(2)), undefined);
  });

  withStore('active jobs come in enqueue order; listings newest first, per owner or all', (t, store) => {
    const a = store.addUser('a', null, false).id;
    const b = store.addUser('b', null, false).id;
    for (let n = 1; n <= 4; n++) store.insertJob(jobId(n), n % 2 ? a : b, storedJobRequest(), n);
    store.updateJob(ended(jobId(2), 10));
    t.deepEqual(
      store.activeJobs().map((j) => j.id),
      [jobId(1), jobId(3), jobId(4)],
    );
    const ids = (query: Parameters<SwitchboardStore['jobPage']>[0]) => store.jobPage(query).map((j) => j.id);
    t.deepEqual(ids({ limit: 3 }), [jobId(4), jobId(3), jobId(2)]);
    t.deepEqual(ids({ limit: 10, ownerId: a }), [jobId(3), jobId(1)]);
    const fourth = store.job(jobId(4))!.seq;
    t.deepEqual(ids({ limit: 10, beforeSeq: fourth }), [jobId(3), jobId(2), jobId(1)]);
    t.deepEqual(ids({ limit: 10, state: 'terminated' }), [jobId(2)]);
    t.deepEqual(ids({ limit: 10, exitStatus: 'job_canceled' }), [jobId(2)]);
    t.deepEqual(ids({ limit: 10, queuedFrom: 3 }), [jobId(4), jobId(3)]);
    const big = storedJobRequest({ parameters: { k: { value: 'é'.repeat(100), secret: false } } });
    store.insertJob(jobId(5), a, big, 5);
    t.is(store.activeJobs().at(-1)!.request_bytes, Buffer.byteLength(JSON.stringify(big)));
  });

  withStore("an update writes the job's lifecycle columns and leaves its log bounds", (t, store) => {
    const owner = store.addUser('o', null, false).id;
    store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    store.appendLog(jobId(1), 0, 0, Buffer.from('hello'), 100);
    store.updateJob({ ...ended(jobId(1), 7) });
    t.like(store.job(jobId(1)), {
      state: 'terminated',
      status_message: 'done',
      exit_status: 'job_canceled',
      exit_message: 'by test',
      terminated_at: 7,
      log_start: 0,
      log_end: 5,
    });
  });

  withStore("the web console's job list filters by each field, with the owner's and supervisor's names", (t, store) => {
    const alice = store.addUser('alice', null, false).id;
    const bob = store.addUser('bob', null, false).id;
    const sup = store.addSupervisor('rack-1', '', Buffer.alloc(32, 1));
    store.insertJob(jobId(1), alice, storedJobRequest({ tag_config: 'board:nrf;site:lab' }), 10);
    store.insertJob(jobId(2), bob, storedJobRequest({ init_spec: { type: 'image', image_id: 'cd'.repeat(32) } }), 20);
    store.insertJob(jobId(3), bob, storedJobRequest({ tag_config: 'x_y%z' }), 30);
    store.updateJob({ ...ended(jobId(2), 25), supervisor_id: sup.id });
    const ids = (query: Partial<ListedJobsQuery>) =>
      store.listedJobs({ limit: 10, ...query }).map((r) => Number(r.id.slice(-1)));
    t.deepEqual(ids({}), [3, 2, 1]);
    t.like(store.listedJobs({ limit: 10, ownerName: 'bob', supervisor: 'rack-1' }), [
      { id: jobId(2), owner_name: 'bob', supervisor_name: 'rack-1' },
    ]);
    t.deepEqual(ids({ supervisor: sup.id }), [2]);
    t.deepEqual(ids({ ownerId: alice }), [1]);
    t.deepEqual(ids({ state: 'terminated', exitStatus: 'job_canceled' }), [2]);
    t.deepEqual(ids({ tagText: 'nrf;site' }), [1]);
    // %, _ and backslash in the text are literal characters, not patterns.
    t.deepEqual(ids({ tagText: '_y%' }), [3]);
    t.deepEqual(ids({ tagText: 'x%z' }), []);
    t.deepEqual(ids({ imagePrefix: 'cdcd' }), [2]);
    t.deepEqual(ids({ imagePrefix: 'ab' }), [3, 1]);
    t.deepEqual(ids({ queuedFrom: 20, queuedUntil: 30 }), [2]);
    t.deepEqual(ids({ beforeSeq: store.job(jobId(3))!.seq, limit: 1 }), [2]);
    t.is(store.listedJobs({ limit: 10 })[2]!.supervisor_name, null);
  });

  withStore('events read back in the order they were written', (t, store) => {
    const owner = store.addUser('o', null, false).id;
    store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    const base = { job_id: jobId(1), by: 'switchboard' as const, stage: null, exit_status: null };
    store.insertEvent({ ...base, at: 2, kind: 'state', state: 'queued', status_message: null });
    store.insertEvent({ ...base, at: 1, kind: 'sub_state', state: 'queued', status_message: 'second' });
    const events = store.events(jobId(1));
    t.deepEqual(
      events.map((e) => [e.kind, e.at, e.status_message]),
      [
        ['state', 2, null],
        ['sub_state', 1, 'second'],
      ],
    );
    t.true(events[0]!.seq < events[1]!.seq);
    t.deepEqual(store.events(jobId(2)), []);
    t.deepEqual(
      store.events(jobId(1), events[0]!.seq, 10).map((e) => e.seq),
      [events[1]!.seq],
    );
    t.deepEqual(
      store.events(jobId(1), 0, 1).map((e) => e.seq),
      [events[0]!.seq],
    );
    t.is(store.eventCount(jobId(1)), 2);
    t.is(store.eventCount(jobId(2)), 0);
  });

  withStore('a transaction that throws writes nothing; a nested one joins it', (t, store) => {
    t.throws(() =>
      store.transaction(() => {
        store.addUser('gone', null, false);
        store.transaction(() => store.addUser('also-gone', null, false));
        throw new Error('abort');
      }),
    );
    t.is(store.userByName('gone'), undefined);
    t.is(store.userByName('also-gone'), undefined);
    t.is(
      store.transaction(() => store.addUser('kept', null, false).name),
      'kept',
    );
    t.truthy(store.userByName('kept'));
  });

  withStore("the newest chunk's offset is known; a job without log has none", (t, store) => {
    const owner = store.addUser('l', null, false).id;
    store.insertJob(jobId(1), owner, storedJobRequest(), 1);
    t.is(store.lastLogOffset(jobId(1)), undefined);
    const first = store.appendLog(jobId(1), 0, 0, Buffer.from('abc'), 100);
    store.appendLog(jobId(1), first.start, first.end, Buffer.from('de'), 100);
    t.is(store.lastLogOffset(jobId(1)), 3);
  });

  withStore('a session logs its user in until removed, and not while the user is locked out', (t, store) => {
    const u = store.addUser('u', null, true);
    store.addSession(Buffer.alloc(32, 1), u.id, 100, 200);
    t.like(store.session(Buffer.alloc(32, 1)), { id: u.id, name: 'u', is_admin: 1, expires_at: 200 });
    t.is(store.session(Buffer.alloc(32, 2)), undefined);
    store.setUserLocked(u.id, 150);
    t.is(store.session(Buffer.alloc(32, 1)), undefined);
    store.setUserLocked(u.id, null);
    store.removeSession(Buffer.alloc(32, 1));
    t.is(store.session(Buffer.alloc(32, 1)), undefined);
  });

  withStore('adding a session removes those expired by then', (t, store) => {
    const u = store.addUser('u', null, false);
    store.addSession(Buffer.alloc(32, 1), u.id, 100, 200);
    store.addSession(Buffer.alloc(32, 2), u.id, 200, 300);
    t.is(store.session(Buffer.alloc(32, 1)), undefined);
    t.truthy(store.session(Buffer.alloc(32, 2)));
  });

  withStore(
    'console time marks: the one in force at a window start comes first; older ones go as the log is cut',
    (t, store) => {
      const id = jobId(1);
      store.putConsoleTime(id, 0, 10, 0);
      store.putConsoleTime(id, 100, 20, 0);
      store.putConsoleTime(id, 200, 30, 0);
      store.putConsoleTime(id, 200, 35, 0);
      t.deepEqual(store.consoleTimes(id, 150, 1000, 10), [
        { offset: 100, at: 20 },
        { offset: 200, at: 35 },
      ]);
      t.deepEqual(store.consoleTimes(id, 0, 150, 1), [{ offset: 0, at: 10 }]);
      store.putConsoleTime(id, 300, 40, 250);
      t.deepEqual(
        store.consoleTimes(id, 0, 1000, 10).map((m) => m.offset),
        [200, 300],
      );
      t.deepEqual(store.consoleTimes(jobId(2), 0, 1000, 10), []);
    },
  );

  withStore('the console log keeps the newest bytes and reads back exactly from any kept offset', (t, store) => {
    const owner = store.addUser('l', null, false).id;
    let n = 0;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 50 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 300 }),
        fc.nat(),
        (chunks, keep, pick) => {
          const id = jobId(n++);
          store.insertJob(id, owner, storedJobRequest(), Date.now());
          let start = 0;
          let end = 0;
          for (const c of chunks) ({ start, end } = store.appendLog(id, start, end, Buffer.from(c), keep));
          const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          if (end !== all.length || end - start < Math.min(keep, end)) return false;
          // Whatever is kept may exceed `keep` by less than one chunk.
          if (end - start >= keep + 50) return false;
          const job = store.job(id)!;
          if (job.log_start !== start || job.log_end !== end) return false;
          const from = start + (pick % (end - start + 1));
          const got = Buffer.concat(
            store.readLog(id, from, 1000).map((c) => c.data.subarray(Math.max(0, from - c.offset))),
          );
          return got.equals(all.subarray(from));
        },
      ),
      { numRuns: 150 },
    );
    t.pass();
  });
}
