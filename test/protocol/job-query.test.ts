import test from 'ava';
import fc from 'fast-check';
import { EXECUTION_STATES, EXIT_STATUSES } from '../../protocol/job.js';
import {
  EVENTS_PAGE_LIMIT,
  JOB_LIST_LIMIT,
  eventsQueryString,
  jobListQueryString,
  logQueryString,
  parseEventsQuery,
  parseJobListQuery,
  parseLogQuery,
  type JobListQuery,
} from '../../protocol/job-query.js';
import { ValidationError } from '../../protocol/validation.js';

/** A query string as fastify hands it over: one value a string, a repeated one an array. */
function parsed(qs: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(qs)) {
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}

const queryArb = fc.dictionary(
  fc.constantFrom(
    'limit',
    'cursor',
    'state',
    'exit_status',
    'tag',
    'supervisor',
    'since',
    'after',
    'offset',
    'follow',
    'x',
  ),
  fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }), fc.integer().map(String)),
);

for (const [name, parse] of [
  ['job list', parseJobListQuery],
  ['events', parseEventsQuery],
  ['log', parseLogQuery],
] as const) {
  test(`any ${name} query gives a value or a ValidationError, never another exception`, (t) => {
    fc.assert(
      fc.property(queryArb, (q) => {
        try {
          parse(q);
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
        }
      }),
    );
    t.pass();
  });
}

test('a job list query reads back as tml writes it', (t) => {
  const arb: fc.Arbitrary<JobListQuery> = fc.record(
    {
      limit: fc.integer({ min: JOB_LIST_LIMIT.min, max: JOB_LIST_LIMIT.max }),
      cursor: fc.bigInt({ min: 0n, max: 10n ** 15n - 1n }).map(String),
      state: fc.constantFrom(...EXECUTION_STATES),
      exit_status: fc.constantFrom(...EXIT_STATUSES),
      tag: fc.string({ minLength: 1, maxLength: 255 }),
      supervisor: fc.string({ minLength: 1, maxLength: 255 }),
      since: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => d.toISOString()),
    },
    { requiredKeys: [] },
  );
  fc.assert(fc.property(arb, (q) => t.deepEqual(parseJobListQuery(parsed(jobListQueryString(q))), q)));
});

test('events and log queries read back as tml writes them', (t) => {
  t.deepEqual(parseEventsQuery(parsed(eventsQueryString({ after: 17, limit: EVENTS_PAGE_LIMIT.max }))), {
    after: 17,
    limit: 1000,
  });
  t.deepEqual(parseLogQuery(parsed(logQueryString({ offset: 4096, follow: true }))), { offset: 4096, follow: true });
  t.deepEqual(parseLogQuery(parsed(logQueryString({ offset: 0 }))), { offset: 0 });
  t.throws(() => parseLogQuery({ offset: '1e3' }), { message: 'offset must be a non-negative integer' });
  t.throws(() => parseEventsQuery({ limit: '1001' }), { message: 'limit must be an integer from 1 to 1000' });
});
