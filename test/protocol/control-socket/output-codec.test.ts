import test from 'ava';
import { attempt } from '../../../protocol/validation.js';
import fc from 'fast-check';
import { decodeFrameBody, encodeFrame } from '../../../protocol/control-socket/framing.js';
import { decodeRunCommandOutput, encodeRunCommandOutputFrame } from '../../../protocol/control-socket/output-codec.js';
import { parsePuppetMessage } from '../../../protocol/control-socket/messages.js';

const streams = fc.constantFrom('stdout' as const, 'stderr' as const);
const ids = fc.oneof(fc.nat(1000), fc.maxSafeNat());

/** What the generic path makes of a frame body, in the decoder's shape, or null if not output. */
function generic(body: Buffer) {
  const json = attempt(() => decodeFrameBody(body));
  if (!json.ok) return null;
  const parsed = attempt(() => parsePuppetMessage(json.value));
  if (!parsed.ok || !('event' in parsed.value) || parsed.value.event.type !== 'runcommandoutput') return null;
  const e = parsed.value.event;
  return {
    puppetEventId: parsed.value.puppet_event_id,
    supervisorEventId: e.supervisor_event_id,
    stream: e.stream,
    output: Buffer.from(e.output),
  };
}

test('the output encoder produces exactly the bytes of the generic encoder', (t) => {
  fc.assert(
    fc.property(ids, ids, streams, fc.uint8Array({ maxLength: 700 }), (pe, se, stream, out) => {
      const fast = encodeRunCommandOutputFrame(pe, se, stream, out);
      const slow = encodeFrame({
        puppet_event_id: pe,
        event: { type: 'runcommandoutput', supervisor_event_id: se, output: Array.from(out), stream },
      });
      return fast.equals(slow);
    }),
  );
  t.pass();
});

test('the output decoder round-trips encoded frames', (t) => {
  fc.assert(
    fc.property(ids, ids, streams, fc.uint8Array({ maxLength: 700 }), (pe, se, stream, out) => {
      const body = encodeRunCommandOutputFrame(pe, se, stream, out).subarray(4);
      const d = decodeRunCommandOutput(Buffer.from(body));
      return (
        d !== null &&
        d.puppetEventId === pe &&
        d.supervisorEventId === se &&
        d.stream === stream &&
        d.output.equals(out)
      );
    }),
  );
  t.pass();
});

test('on corrupted frames the output decoder agrees with the generic path or declines', (t) => {
  const corrupt = fc
    .tuple(
      ids,
      streams,
      fc.uint8Array({ minLength: 1, maxLength: 80 }),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom(...Buffer.from('0123456789,[]" -9.e'))), {
        minLength: 1,
        maxLength: 4,
      }),
    )
    .map(([se, stream, out, edits]) => {
      const body = Buffer.from(encodeRunCommandOutputFrame(0, se, stream, out).subarray(4));
      for (const [at, byte] of edits) body[at % body.length] = byte;
      return body;
    });
  fc.assert(
    fc.property(corrupt, (body) => {
      const fast = decodeRunCommandOutput(body);
      if (fast === null) return true;
      const slow = generic(body);
      return (
        slow !== null &&
        JSON.stringify({ ...fast, output: [...fast.output] }) === JSON.stringify({ ...slow, output: [...slow.output] })
      );
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('other layouts of valid output events are left to the generic path', (t) => {
  const spaced = Buffer.from(
    '{"puppet_event_id": 1, "event": {"type": "runcommandoutput", "supervisor_event_id": 2, "output": [1, 2], "stream": "stdout"}}',
  );
  t.is(decodeRunCommandOutput(spaced), null);
  t.deepEqual(generic(spaced)?.output, Buffer.from([1, 2]));
  const reordered = Buffer.from(
    '{"event":{"type":"runcommandoutput","supervisor_event_id":2,"output":[1,2],"stream":"stdout"},"puppet_event_id":1}',
  );
  t.is(decodeRunCommandOutput(reordered), null);
});

test('out-of-range or non-JSON numbers are declined by the output decoder', (t) => {
  const head = '{"puppet_event_id":1,"event":{"type":"runcommandoutput","supervisor_event_id":2,"output":[';
  for (const values of ['256', '01', '1,,2', '1,', '-1', '1.5', '2555']) {
    t.is(decodeRunCommandOutput(Buffer.from(`${head}${values}],"stream":"stdout"}}`)), null, values);
  }
});
