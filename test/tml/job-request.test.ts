import test from 'ava';
import fc from 'fast-check';
import { UsageError } from '../../protocol/cli.js';
import { jobRequest, parseParameterText } from '../../tml/job-request.js';
import { IMAGE_ID } from '../switchboard/harness.js';

test('parameter text gives parameters or a UsageError', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      try {
        parseParameterText(text, '--parameters');
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
      }
    }),
  );
  t.pass();
});

test('an error about parameter text never quotes a value', (t) => {
  const MARK = 'hunter2-mark';
  const value = fc.oneof(fc.constant(MARK), fc.constant([MARK]), fc.constant({ v: MARK }), fc.jsonValue());
  const entry = fc.oneof(fc.record({ value, secret: fc.oneof(fc.boolean(), fc.jsonValue()) }), value);
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 8 }), entry, { maxKeys: 4 }), fc.boolean(), (params, cut) => {
      const text = JSON.stringify(params);
      try {
        parseParameterText(cut ? text.slice(0, -1) : text, '--parameters');
        return true;
      } catch (err) {
        return err instanceof UsageError && !err.message.includes(MARK);
      }
    }),
  );
  t.pass();
});

test('the short form {"name": "value"} is a non-secret parameter; the long form keeps its flag', (t) => {
  t.deepEqual(parseParameterText('{"a": "x", "b": {"value": "y", "secret": true}}', '--parameters'), {
    a: { value: 'x', secret: false },
    b: { value: 'y', secret: true },
  });
});

test('a job request from flags has every key, the timeout as a duration string in seconds', async (t) => {
  t.deepEqual(await jobRequest({ image: IMAGE_ID, timeout: '1h', tagConfig: 'board:x' }), {
    init_spec: { type: 'image', image_id: IMAGE_ID },
    ssh_keys: [],
    restart_policy: { remaining_restart_count: 0 },
    parameters: {},
    tag_config: 'board:x',
    override_timeout: '3600s',
  });
  t.is((await jobRequest({ image: IMAGE_ID, timeout: '250ms' })).override_timeout, '1s');
});
