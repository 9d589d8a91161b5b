import test from 'ava';
import fc from 'fast-check';
import { createLogger, demoted, escapeLogText } from '../../protocol/log.js';

const FIXED = () => new Date('2026-12-01T12:00:00.000Z');

function capture(opts: Parameters<typeof createLogger>[0] = {}) {
  const records: string[] = [];
  const log = createLogger({ now: FIXED, timestamps: true, write: (r) => records.push(r), ...opts });
  return { log, records };
}

test('a text record is one line: time, padded level, message', (t) => {
  const { log, records } = capture();
  log.info('job 1 scheduled');
  t.deepEqual(records, ['2026-12-01T12:00:00.000Z info  job 1 scheduled\n']);
});

test('records below the level are dropped', (t) => {
  const { log, records } = capture({ level: 'warn' });
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  t.deepEqual(
    records.map((r) => r.split(' ')[1]),
    ['warn', 'error'],
  );
});

test('a message cannot forge a second record: newlines and control characters are escaped', (t) => {
  const { log, records } = capture();
  log.warn('substate "x"\n2026-12-01T12:00:00.000Z error forged\r\u001b[31m\u2028');
  t.is(records.length, 1);
  t.is(
    records[0],
    '2026-12-01T12:00:00.000Z warn  substate "x"\\n2026-12-01T12:00:00.000Z error forged\\r\\u001b[31m\\u2028\n',
  );
});

test('whatever the message, a text record is exactly one line', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (message) => {
        const { log, records } = capture();
        log.error(message);
        return (
          records.length === 1 &&
          records[0]!.indexOf('\n') === records[0]!.length - 1 &&
          !/[\r\u2028\u2029]/.test(records[0]!)
        );
      }),
    ),
  );
});

test('JSON records carry time, level and message and parse back to the message', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (message) => {
      const { log, records } = capture({ format: 'json' });
      log.info(message);
      const r = JSON.parse(records[0]!);
      return (
        records[0]!.split('\n').length === 2 &&
        r.message === message &&
        r.level === 'info' &&
        r.time === '2026-12-01T12:00:00.000Z'
      );
    }),
  );
  t.pass();
});

test('a child logger prefixes its records and keeps the level', (t) => {
  const { log, records } = capture({ level: 'info' });
  const job = log.child('job 42').child('qemu');
  job.debug('hidden');
  job.info('booting');
  t.deepEqual(records, ['2026-12-01T12:00:00.000Z info  job 42: qemu: booting\n']);
});

test('without timestamps a record starts with its level (journald stamps lines itself)', (t) => {
  const { log, records } = capture({ timestamps: false });
  log.info('ready');
  t.deepEqual(records, ['info  ready\n']);
});

test('escapeLogText leaves printable text alone', (t) => {
  t.is(escapeLogText('flashing board "nrf52840dk" — 50 %'), 'flashing board "nrf52840dk" — 50 %');
});

test('a demoted view writes one level at another, in its children too, and keeps the rest', (t) => {
  const { log, records } = capture({ level: 'debug', timestamps: false });
  const quiet = demoted(log.child('job 1'), 'info', 'debug');
  quiet.info('puppet connected');
  quiet.child('socket').log('info', 'frame');
  quiet.warn('protocol error');
  t.deepEqual(records, [
    'debug job 1: puppet connected\n',
    'debug job 1: socket: frame\n',
    'warn  job 1: protocol error\n',
  ]);
});
