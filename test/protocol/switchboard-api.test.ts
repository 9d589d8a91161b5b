import test from 'ava';
import fc from 'fast-check';
import {
  checkParameterFileNames,
  parameterFileName,
  parseJobRequest,
  parseOverrideTimeout,
} from '../../protocol/job.js';
import {
  parseJobListAnswer,
  parseJobStatusAnswer,
  parseLoginRequest,
  parseSupervisorFilter,
  parseSupervisorListAnswer,
} from '../../protocol/switchboard-api.js';
import { ValidationError } from '../../protocol/validation.js';

/** Arbitrary input gives a value or our ValidationError, never another exception. */
function totalParser(parse: (v: unknown) => unknown, arb: fc.Arbitrary<unknown> = fc.jsonValue()): void {
  fc.assert(
    fc.property(arb, (value) => {
      try {
        parse(value);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
      }
    }),
    { numRuns: 500 },
  );
}

const requestLike = fc.record(
  {
    init_spec: fc.oneof(
      fc.jsonValue(),
      fc.record({
        type: fc.constantFrom('image', 'resume_job', 'restart_job', 'x'),
        image_id: fc.string(),
        job_id: fc.uuid(),
      }),
    ),
    ssh_keys: fc.oneof(fc.jsonValue(), fc.array(fc.string())),
    restart_policy: fc.oneof(fc.jsonValue(), fc.record({ remaining_restart_count: fc.integer() })),
    parameters: fc.oneof(
      fc.jsonValue(),
      fc.dictionary(fc.string(), fc.record({ value: fc.string(), secret: fc.oneof(fc.boolean(), fc.jsonValue()) })),
    ),
    tag_config: fc.oneof(fc.string(), fc.jsonValue()),
    override_timeout: fc.oneof(fc.constant(null), fc.string(), fc.double(), fc.jsonValue()),
  },
  { requiredKeys: [] },
);

test('parseJobRequest gives a request or a ValidationError for any input', (t) => {
  totalParser(parseJobRequest, fc.oneof(fc.jsonValue(), requestLike));
  t.pass();
});

test('parseLoginRequest gives a request or a ValidationError for any input', (t) => {
  totalParser(
    parseLoginRequest,
    fc.oneof(fc.jsonValue(), fc.record({ user_identifier: fc.jsonValue(), password: fc.jsonValue() })),
  );
  t.pass();
});

test('parseSupervisorFilter gives a filter or a ValidationError for any query', (t) => {
  totalParser(
    (v) => parseSupervisorFilter(v as Record<string, unknown>),
    fc.dictionary(fc.constantFrom('work', 'conn', 'x'), fc.jsonValue()),
  );
  t.pass();
});

test('the answer parsers of the client give a value or a ValidationError for any input', (t) => {
  for (const parse of [parseJobStatusAnswer, parseJobListAnswer, parseSupervisorListAnswer]) {
    totalParser(
      parse,
      fc.oneof(
        fc.jsonValue(),
        fc.record({
          type: fc.constant('ok'),
          jobs: fc.jsonValue(),
          job_status: fc.jsonValue(),
          supervisors: fc.jsonValue(),
        }),
      ),
    );
  }
  t.pass();
});

test('a parsed override_timeout is a whole number of seconds from 1 to 30 days', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.double(), fc.stringMatching(/^[0-9. ]{1,8}(ns|ms|s|m|h|d|w)?$/)), (v) => {
      try {
        const s = parseOverrideTimeout(v);
        return s !== null && Number.isInteger(s) && s >= 1 && s <= 30 * 86_400;
      } catch (err) {
        return err instanceof ValidationError;
      }
    }),
  );
  t.pass();
});

test("fundu's way of writing a duration reads back as the same seconds", (t) => {
  // fundu's Display: units from weeks down, each present one as "<n><unit>", joined by spaces.
  const fundu = (seconds: number): string => {
    const parts: string[] = [];
    let rest = seconds;
    for (const [unit, n] of [
      ['w', 604_800],
      ['d', 86_400],
      ['h', 3600],
      ['m', 60],
      ['s', 1],
    ] as const) {
      if (rest >= n) {
        parts.push(`${Math.floor(rest / n)}${unit}`);
        rest %= n;
      }
    }
    return parts.join(' ');
  };
  fc.assert(fc.property(fc.integer({ min: 1, max: 30 * 86_400 }), (s) => parseOverrideTimeout(fundu(s)) === s));
  t.is(fundu(5400), '1h 30m');
});

test('parameter file names keep ASCII letters, digits, space, - and _, cut to 128', (t) => {
  t.is(parameterFileName('gh-actions-runner-encoded-jit-config'), 'gh-actions-runner-encoded-jit-config');
  t.is(parameterFileName('api.key'), 'apikey');
  t.is(parameterFileName('../etc/passwd'), 'etcpasswd');
  t.is(parameterFileName('ünïcode key'), 'ncode key');
  t.is(parameterFileName('x'.repeat(200)).length, 128);
  fc.assert(fc.property(fc.string(), (name) => /^[A-Za-z0-9 _-]{0,128}$/.test(parameterFileName(name))));
});

test('any two accepted parameter names give two different files', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ maxLength: 140 }), { maxLength: 6 }), (names) => {
      const params = Object.fromEntries(names.map((n) => [n, { value: '', secret: false }]));
      try {
        checkParameterFileNames(params);
      } catch (err) {
        return err instanceof ValidationError;
      }
      return (
        new Set(names.map(parameterFileName)).size === names.length && !names.some((n) => parameterFileName(n) === '')
      );
    }),
  );
  t.pass();
});
