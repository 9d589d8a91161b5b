import test from 'ava';
import fc from 'fast-check';
import {
  FrameDecoder,
  MAX_FRAME_LENGTH,
  decodeFrameBody,
  encodeFrame,
} from '../../../protocol/control-socket/framing.js';
import {
  ControlMessageError,
  parsePuppetMessage,
  parseSupervisorMessage,
} from '../../../protocol/control-socket/messages.js';
import { ValidationError, attempt } from '../../../protocol/validation.js';

function header(length: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length);
  return h;
}

/** Cuts `data` at the given (sorted, deduplicated) offsets. */
function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    pieces.push(data.subarray(last, p));
    last = p;
  }
  pieces.push(data.subarray(last));
  return pieces;
}

const jsonValue = fc.jsonValue({ maxDepth: 3 });

test('frames decode identically however the byte stream is split', (t) => {
  fc.assert(
    fc.property(
      fc.array(jsonValue, { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (values, cuts) => {
        const stream = Buffer.concat(values.map((v) => encodeFrame(v)));
        const decoder = new FrameDecoder();
        const bodies: Buffer[] = [];
        for (const piece of split(stream, cuts)) {
          const { frames, error } = decoder.push(piece);
          if (error !== null) return false;
          bodies.push(...frames);
        }
        const decoded = bodies.map((b) => {
          const r = attempt(() => decodeFrameBody(b));
          return r.ok ? r.value : Symbol('bad');
        });
        return !decoder.pending && JSON.stringify(decoded) === JSON.stringify(values);
      },
    ),
  );
  t.pass();
});

test('several frames arriving in one read are all returned, in order', (t) => {
  const stream = Buffer.concat([encodeFrame({ a: 1 }), encodeFrame({ b: 2 }), encodeFrame({ c: 3 })]);
  const { frames, error } = new FrameDecoder().push(stream);
  t.is(error, null);
  t.deepEqual(
    frames.map((f) => f.toString()),
    ['{"a":1}', '{"b":2}', '{"c":3}'],
  );
});

test('a zero-length frame yields an empty body', (t) => {
  const { frames } = new FrameDecoder().push(header(0));
  t.deepEqual(frames, [Buffer.alloc(0)]);
});

test('a frame of exactly 8 MiB is accepted', (t) => {
  const decoder = new FrameDecoder();
  const r1 = decoder.push(header(MAX_FRAME_LENGTH));
  t.is(r1.error, null);
  const r2 = decoder.push(Buffer.alloc(MAX_FRAME_LENGTH, 0x20));
  t.is(r2.error, null);
  t.is(r2.frames.length, 1);
  t.is(r2.frames[0]!.length, MAX_FRAME_LENGTH);
});

test('an oversize length is a protocol error, reported before any body arrives', (t) => {
  const decoder = new FrameDecoder();
  const first = decoder.push(Buffer.concat([encodeFrame({ ok: true }), header(MAX_FRAME_LENGTH + 1)]));
  t.deepEqual(
    first.frames.map((f) => f.toString()),
    ['{"ok":true}'],
  );
  t.regex(first.error ?? '', /exceeds the limit/);
  // the decoder stays failed: nothing after the bad header is trusted
  t.not(decoder.push(encodeFrame({ later: 1 })).error, null);
});

test('a 4 GiB length does not allocate', (t) => {
  const before = process.memoryUsage().arrayBuffers;
  const { error } = new FrameDecoder().push(header(0xffffffff));
  t.not(error, null);
  t.true(process.memoryUsage().arrayBuffers - before < MAX_FRAME_LENGTH);
});

test('random garbage never throws out of the decoder or the validators', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
      const decoder = new FrameDecoder(1024);
      for (const chunk of chunks) {
        const { frames } = decoder.push(chunk);
        for (const f of frames) {
          const body = attempt(() => decodeFrameBody(f));
          if (body.ok) {
            attempt(() => parsePuppetMessage(body.value));
            attempt(() => parseSupervisorMessage(body.value));
          }
        }
      }
    }),
  );
  t.pass();
});

test('random JSON never throws out of the validators', (t) => {
  const envelope = fc.record(
    {
      request_id: fc.oneof(fc.nat(), jsonValue),
      puppet_event_id: fc.oneof(fc.nat(), jsonValue),
      supervisor_event_id: fc.oneof(fc.nat(), jsonValue),
      request: fc.oneof(
        jsonValue,
        fc.record({ type: fc.constantFrom('ping', 'x', 'parameters', 'jobid', 'extensions') }),
      ),
      response: fc.oneof(
        jsonValue,
        fc.record({
          type: fc.constantFrom('parameters', 'networkconfig', 'jobinfo', 'jobid', 'extensions'),
          parameters: jsonValue,
          extensions: jsonValue,
          job_id: jsonValue,
        }),
      ),
      event: fc.oneof(
        jsonValue,
        fc.record({
          type: fc.constantFrom('runcommand', 'runcommandoutput', 'shutdown', 'reportsubstate'),
          output: jsonValue,
          cmdline: jsonValue,
          environment: jsonValue,
        }),
      ),
      message: jsonValue,
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(jsonValue, envelope), (value) => {
      // attempt() lets anything but a ValidationError through, which fails the property.
      const a = attempt(() => parsePuppetMessage(value));
      const b = attempt(() => parseSupervisorMessage(value));
      return (a.ok || a.error instanceof ControlMessageError) && (b.ok || b.error instanceof ControlMessageError);
    }),
  );
  t.pass();
});

test('invalid UTF-8 and invalid JSON bodies are reported, not thrown', (t) => {
  t.like(
    attempt(() => decodeFrameBody(Buffer.from([0x7b, 0xff, 0x7d]))),
    {
      ok: false,
      error: { message: 'frame is not valid UTF-8' },
    },
  );
  const bad = attempt(() => decodeFrameBody(Buffer.from('{"a":')));
  t.false(bad.ok);
});

test('encoding a message beyond 8 MiB throws instead of sending a frame the peer must reject', (t) => {
  t.throws(() => encodeFrame({ big: 'x'.repeat(MAX_FRAME_LENGTH) }), { message: /8 MiB/ });
});

test('invalid JSON is reported by position, never quoting the frame (it may hold a secret)', (t) => {
  // V8's own message for this input quotes it: Unexpected token 'x', ..."e,"value":x"SECRET-h"... is not valid JSON
  const r = attempt(() => decodeFrameBody(Buffer.from('{"token":{"secret":true,"value":x"SECRET-hunter2"}}')));
  t.false(r.ok);
  if (r.ok) return;
  t.true(r.error instanceof ValidationError);
  t.regex(r.error.message, /^frame is not valid JSON/);
  t.false(r.error.message.includes('SECRET'));
});

test('invalid JSON with a position reports it', (t) => {
  const r = attempt(() => decodeFrameBody(Buffer.from('{"a":1,}')));
  t.like(r, { ok: false, error: { message: 'frame is not valid JSON (at character 7)' } });
});

test('a type name that is not a protocol word is not echoed in the validation error', (t) => {
  const r = attempt(() => parseSupervisorMessage({ request_id: 1, response: { type: 'SECRET-hunter2 value' } }));
  t.false(r.ok);
  if (r.ok) return;
  t.false(r.error.message.includes('hunter2'));
  t.regex(r.error.message, /unknown response type \(20 characters, not shown\)/);
});
