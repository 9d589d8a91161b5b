import test from 'ava';
import { eventLine, jobRows, poolRows, statusText, supervisorRows, table, tsv } from '../../tml/format.js';
import { AS_OF, jobStatus } from './fake-switchboard.js';

const JOB = '11111111-2222-4333-8444-555555555555';
const SUP = '99999999-2222-4333-8444-555555555555';

test('a table has a header row and columns as wide as their widest cell', (t) => {
  t.is(
    table({ header: ['A', 'LONG HEADER', 'C'], rows: [['xyz', 'b', 'last column unpadded']] }),
    'A    LONG HEADER  C\nxyz  b            last column unpadded\n',
  );
  t.is(table({ header: ['A', 'B'], rows: [['1', '2']] }, false), '1  2\n');
  t.is(table({ header: ['A'], rows: [] }), 'A\n');
});

test('tab-separated values keep one row a line whatever the cells hold', (t) => {
  t.is(tsv({ header: ['A', 'B'], rows: [['x\ty', 'line\nbreak']] }), 'A\tB\nx y\tline break\n');
});

test('job rows show the outcome of a terminated job by its book name', (t) => {
  const rows = jobRows({
    [JOB]: jobStatus(JOB, {
      state: 'terminated',
      exit: 'workload_finished_error',
      supervisor: { id: SUP, name: 'rpi-1' },
    }),
  });
  t.deepEqual(rows.header, ['JOB', 'QUEUED', 'OWNER', 'SUPERVISOR', 'STATE']);
  t.deepEqual(rows.rows, [[JOB, AS_OF, 'alice', 'rpi-1', 'terminated WorkloadFinishedError']]);
});

test('supervisor rows show who holds each and since when', (t) => {
  const rows = supervisorRows({
    [SUP]: {
      status: 'busy',
      job_id: JOB,
      job_state: { state: 'ready' },
      name: 'rpi-1',
      tags: ['board:x', 'site:lab'],
      job_owner: 'bob',
      job_since: AS_OF,
    },
  });
  t.deepEqual(rows.rows, [[SUP, 'rpi-1', 'busy', JOB, 'bob', AS_OF, 'board:x;site:lab']]);
});

test('pool rows count idle, busy and disconnected members', (t) => {
  t.deepEqual(poolRows([{ tag: 'board:x', members: ['a', 'b'], idle: 1, busy: 1, disconnected: 0 }]).rows, [
    ['board:x', '2', '1', '1', '0', 'a,b'],
  ]);
});

test('job status never shows a secret value', (t) => {
  const s = {
    ...jobStatus(JOB),
    parameters: { k: { secret: true as const }, m: { secret: false as const, value: 'v' } },
  };
  t.regex(statusText(JOB, s), /^parameters {3}k=<secret> m=v$/m);
});

test('an event line has the time, who set it and what', (t) => {
  t.is(
    eventLine({
      at: AS_OF,
      kind: 'exit_status',
      by: 'supervisor',
      state: 'ready',
      stage: null,
      status_message: 'ok',
      exit_status: 'job_timeout',
    }),
    `${AS_OF}  supervisor  exit status JobTimeout: ok\n`,
  );
});
