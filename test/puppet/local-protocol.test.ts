// The puppet's local protocol (the job commands to the daemon), parsed as untrusted input.
import test from 'ava';
import fc from 'fast-check';
import { parseLocalRequest, parseLocalResponse } from '../../puppet/local-protocol.js';
import { ValidationError, attempt } from '../../protocol/validation.js';

test('local requests are validated; unknown ops and bad fields are errors', (t) => {
  t.deepEqual(parseLocalRequest('{"op":"finish","status":"error","output":"x","terminate":true}'), {
    op: 'finish',
    status: 'error',
    output: 'x',
    terminate: true,
  });
  t.throws(() => parseLocalRequest('{"op":"finish","status":"bad"}'), {
    instanceOf: ValidationError,
    message: 'status must be one of success, error, unknown',
  });
  t.throws(() => parseLocalRequest('{"op":"reboot"}'), { instanceOf: ValidationError, message: 'unknown op "reboot"' });
  t.throws(() => parseLocalRequest('not json'), { instanceOf: ValidationError, message: 'request is not valid JSON' });
  t.throws(() => parseLocalRequest('{"op":"substate","substate":5}'), {
    instanceOf: ValidationError,
    message: 'substate must be a string',
  });
});

test('local requests and responses: any line gives a request, an error text or a response, never an exception', (t) => {
  const line = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.json(),
    fc
      .record({
        op: fc.constantFrom('ping', 'finish', 'substate', 'terminate', 'jobinfo', 'constructor', '__proto__'),
        status: fc.oneof(fc.constantFrom('success', 'error', 'unknown'), fc.json()),
        output: fc.oneof(fc.string(), fc.json()),
        substate: fc.oneof(fc.string(), fc.json()),
        ok: fc.boolean(),
        error: fc.json(),
        reports: fc.oneof(fc.boolean(), fc.constant(null), fc.json()),
        unsupported: fc.json(),
      })
      .map((o) => JSON.stringify(o)),
  );
  fc.assert(
    fc.property(line, (l) => {
      // attempt() lets anything but a ValidationError through, which fails the property.
      const req = attempt(() => parseLocalRequest(l));
      const resp = attempt(() => parseLocalResponse(l));
      return (!req.ok || typeof req.value.op === 'string') && (!resp.ok || typeof resp.value.ok === 'boolean');
    }),
  );
  t.like(parseLocalResponse('{"ok":false,"error":"x","unsupported":true}'), { ok: false, unsupported: true });
  t.like(parseLocalResponse('{"ok":true,"reports":false}'), { ok: true, reports: false });
});
