import test from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../protocol/validation.js';
import { parseEventsPage, parseJobListPage } from '../../protocol/switchboard-api.js';
import { parseSupervisorListFull, parseSupervisorStatusFullAnswer } from '../../tml/api-ext.js';
import { AS_OF, jobStatus } from './fake-switchboard.js';

const JOB = '11111111-2222-4333-8444-555555555555';
const EVENT = {
  at: AS_OF,
  kind: 'state',
  by: 'switchboard',
  state: 'queued',
  stage: null,
  status_message: null,
  exit_status: null,
};

test('a job list page has its cursor; an answer without one has no pages', (t) => {
  const jobs = { [JOB]: jobStatus(JOB) };
  t.is(parseJobListPage({ type: 'ok', jobs, next_cursor: 'c2' }).next_cursor, 'c2');
  t.is(parseJobListPage({ type: 'ok', jobs, next_cursor: null }).next_cursor, null);
  t.is(parseJobListPage({ type: 'ok', jobs }).next_cursor, undefined);
  t.throws(() => parseJobListPage({ type: 'ok', jobs, next_cursor: 3 }), {
    message: 'next_cursor must be a string or null, got a number',
  });
});

test('events keep their sequence numbers and the page its next', (t) => {
  const page = parseEventsPage({ type: 'ok', events: [{ ...EVENT, seq: 7 }], next: 7 });
  t.is(page.events[0]!.seq, 7);
  t.is(page.next, 7);
  const old = parseEventsPage({ type: 'ok', events: [EVENT] });
  t.is(old.events[0]!.seq, null);
  t.is(old.next, undefined);
  t.throws(() => parseEventsPage({ type: 'ok', events: [{ ...EVENT, seq: -1 }], next: null }), {
    instanceOf: ValidationError,
  });
});

test('a supervisor status carries who holds it and since when, when the switchboard says', (t) => {
  const s = parseSupervisorStatusFullAnswer({
    type: 'ok',
    status: { status: 'busy', job_id: JOB, job_state: { state: 'ready' }, job_owner: 'alice', job_since: AS_OF },
  });
  t.like(s, { job_owner: 'alice', job_since: AS_OF });
  t.false('job_owner' in parseSupervisorStatusFullAnswer({ type: 'ok', status: { status: 'idle' } }));
  t.throws(() => parseSupervisorStatusFullAnswer({ type: 'ok', status: { status: 'idle', job_since: 'yesterday' } }), {
    message: 'status.job_since must be an RFC 3339 time or null',
  });
});

test('any answer gives a value or a ValidationError, never another exception', (t) => {
  const near = fc.oneof(
    fc.jsonValue(),
    fc.record({ type: fc.constant('ok'), jobs: fc.dictionary(fc.uuid(), fc.jsonValue()), next_cursor: fc.jsonValue() }),
    fc.record({
      type: fc.constant('ok'),
      events: fc.array(
        fc.record({
          ...Object.fromEntries(Object.entries(EVENT).map(([k, v]) => [k, fc.constant(v)])),
          seq: fc.jsonValue(),
        }),
      ),
      next: fc.jsonValue(),
    }),
    fc.record({
      type: fc.constant('ok'),
      status: fc.record({
        status: fc.constantFrom('idle', 'busy'),
        job_owner: fc.jsonValue(),
        job_since: fc.jsonValue(),
      }),
    }),
    fc.record({ type: fc.constant('ok'), supervisors: fc.dictionary(fc.uuid(), fc.jsonValue()) }),
  );
  fc.assert(
    fc.property(near, (value) => {
      for (const parse of [
        parseJobListPage,
        parseEventsPage,
        parseSupervisorStatusFullAnswer,
        parseSupervisorListFull,
      ]) {
        try {
          parse(value);
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
        }
      }
    }),
  );
  t.pass();
});
