import test from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../protocol/validation.js';
import {
  encodeNotice,
  MAX_NOTICE_BYTES,
  noticePrefix,
  parseNotice,
  type FeedNotice,
} from '../../switchboard/change-feed.js';
import type { JobRow } from '../../switchboard/store.js';
import { EXPIRY_MS, Presence } from '../../switchboard/presence.js';

const ROW: JobRow = {
  seq: 7,
  id: 'j',
  owner_id: 'u',
  tag_config: 'board:x',
  state: 'initializing',
  stage: 'booting',
  status_message: null,
  exit_status: null,
  exit_message: null,
  supervisor_id: 's',
  queued_at: 1,
  scheduled_at: 2,
  updated_at: 3,
  terminated_at: null,
  log_start: 0,
  log_end: 12,
  init_spec: '{"type":"image","image_id":"ab"}',
  restart_of: null,
  override_timeout: 60,
};

test('every notice reads back as it was sent, with its sender', (t) => {
  const notices: FeedNotice[] = [
    { kind: 'job', id: 'j' },
    { kind: 'job', id: 'j', row: ROW },
    { kind: 'log', id: 'j', start: 10, end: 20 },
    { kind: 'sessions', supervisors: ['a', 'b'], part: 1 },
    { kind: 'connected', supervisor: 'a' },
    { kind: 'console_input', job: 'j', bytes: 'aGk=' },
  ];
  for (const n of notices) t.deepEqual(parseNotice(encodeNotice('r1', n)), { ...n, from: 'r1' });
});

test("a replica's notices, and only its own, begin with its prefix, whatever they hold", (t) => {
  fc.assert(
    fc.property(fc.uuid(), fc.uuid(), fc.string(), fc.string(), fc.boolean(), (from, other, id, text, long) => {
      const notices: FeedNotice[] = [
        { kind: 'job', id, row: { ...ROW, id, exit_message: long ? text.repeat(MAX_NOTICE_BYTES) : text } },
        { kind: 'log', id, start: 0, end: text.length },
        { kind: 'console_input', job: id, bytes: text },
      ];
      for (const n of notices) {
        const payload = encodeNotice(from, n);
        t.true(payload.startsWith(noticePrefix(from)));
        if (other !== from) t.false(payload.startsWith(noticePrefix(other)));
      }
    }),
  );
});

test('a job notice whose row would not fit in a NOTIFY is sent without it: the others read the row', (t) => {
  const row = { ...ROW, exit_message: 'x'.repeat(MAX_NOTICE_BYTES) };
  const payload = encodeNotice('r1', { kind: 'job', id: 'j', row });
  t.true(Buffer.byteLength(payload) <= MAX_NOTICE_BYTES);
  t.deepEqual(parseNotice(payload), { kind: 'job', id: 'j', from: 'r1' });
});

test('a job notice whose row is malformed or of another job is refused', (t) => {
  const bad = [
    { ...ROW, state: 'lost' },
    { ...ROW, log_end: '12' },
    { ...ROW, id: 'k' },
    { ...ROW, seq: undefined },
  ];
  for (const row of bad) {
    t.throws(() => parseNotice(JSON.stringify({ kind: 'job', id: 'j', row, from: 'r1' })), {
      instanceOf: ValidationError,
    });
  }
});

test('property: any payload is a notice or a ValidationError, never another exception', (t) => {
  const payload = fc.oneof(
    fc.string(),
    fc.json(),
    fc
      .record({
        kind: fc.constantFrom('job', 'log', 'sessions', 'connected', 'console_input', 'x'),
        from: fc.oneof(fc.string(), fc.integer()),
        id: fc.anything(),
        start: fc.anything(),
        end: fc.anything(),
        supervisors: fc.anything(),
        part: fc.anything(),
        supervisor: fc.anything(),
        job: fc.anything(),
        bytes: fc.anything(),
        row: fc.oneof(
          fc.anything(),
          fc.constant(ROW),
          fc.anything().map((state) => ({ ...ROW, state })),
        ),
      })
      .map((o) => JSON.stringify(o) ?? ''),
  );
  fc.assert(
    fc.property(payload, (p) => {
      try {
        parseNotice(p);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
      }
    }),
  );
  t.pass();
});

test('a replica names its supervisors in parts: part 0 replaces, later parts add', (t) => {
  const p = new Presence();
  p.holds('r1', ['a', 'b'], 0, 0);
  p.holds('r1', ['c'], 1, 0);
  t.true(p.elsewhere('a') && p.elsewhere('c'));
  p.holds('r1', ['c'], 0, 1);
  t.false(p.elsewhere('a'));
  t.true(p.elsewhere('c'));
});

test('a supervisor that connects somewhere is held there alone', (t) => {
  const p = new Presence();
  p.holds('r1', ['a'], 0, 0);
  p.connected('r2', 'a', 1);
  p.holds('r1', [], 0, 2);
  t.true(p.elsewhere('a'));
  p.connectedHere('a');
  t.false(p.elsewhere('a'));
});

test('a replica silent for the expiry time is gone, and names the supervisors no one else holds', (t) => {
  const p = new Presence();
  p.holds('r1', ['a', 'b'], 0, 0);
  p.holds('r2', ['b'], 0, EXPIRY_MS);
  t.deepEqual(p.expire(EXPIRY_MS - 1), []);
  t.deepEqual(p.expire(EXPIRY_MS), ['a']);
  t.false(p.elsewhere('a'));
  t.true(p.elsewhere('b'));
});
