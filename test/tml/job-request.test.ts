import test from 'ava';
import fc from 'fast-check';
import { UsageError } from '../../protocol/cli.js';
import { jobRequest, parseParameterText, restartCountOf, tagConfigOf } from '../../tml/job-request.js';
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

test('--supervisor adds the named-system tag after the pool tags', (t) => {
  t.is(tagConfigOf({ tagConfig: 'board:x; site:lab', supervisor: 'rpi-1' }), 'board:x;site:lab;tml.supervisor:rpi-1');
  t.is(
    tagConfigOf({ supervisor: ' 3fa85f64-5717-4562-b3fc-2c963f66afa6 ' }),
    'tml.supervisor:3fa85f64-5717-4562-b3fc-2c963f66afa6',
  );
  t.throws(() => tagConfigOf({ supervisor: 'a;b' }), {
    instanceOf: UsageError,
    message: /^--supervisor must be a supervisor's name or id without ";"/,
  });
});

test('--restart-count takes a whole number from 0 to 1000 and shows what it got otherwise', (t) => {
  t.is(restartCountOf('7'), 7);
  t.is(restartCountOf(undefined), 0);
  for (const bad of ['-1', '1.5', 'lots', '1001', ''])
    t.throws(() => restartCountOf(bad), {
      message: `--restart-count must be a whole number from 0 to 1000, got "${bad}"`,
    });
});

test("the job's keys: flags, then the configuration's, then tml's own, each once", async (t) => {
  const r = await jobRequest({
    image: IMAGE_ID,
    sshKey: ['ssh-ed25519 A one'],
    configSshKeys: ['ssh-ed25519 A one', 'ssh-rsa B two'],
    internalSshKey: 'ssh-ed25519 C',
  });
  t.deepEqual(r.ssh_keys, ['ssh-ed25519 A one', 'ssh-rsa B two', 'ssh-ed25519 C']);
});

test('a parameter of the wrong shape says which part and the type it got', (t) => {
  const err = (text: string) =>
    t.throws(() => parseParameterText(text, '--parameters'), { instanceOf: UsageError }).message;
  t.is(
    err('[1]'),
    '--parameters must be a JSON object, e.g. \'{"name": {"value": "x", "secret": false}}\', got an array',
  );
  t.is(err('{"a": {"value": 3, "secret": true}}'), '--parameters.a.value must be a string, got a number');
  t.is(err('{"a": {"value": "x", "secret": "yes"}}'), '--parameters.a.secret must be true or false, got a string');
  t.is(err('{"a": null}'), '--parameters.a must be a string or {"value": "...", "secret": true|false}, got null');
});
