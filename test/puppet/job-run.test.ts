// How `tml-puppet job run` turns a workload's exit into a job outcome.
import test from 'ava';
import { outcomeOf } from '../../puppet/job-run.js';

test('job run outcome: 0 is success, other codes are errors, signals are unknown with 128+N', (t) => {
  t.deepEqual(outcomeOf('make', 0, null), { status: 'success', exitCode: 0, summary: 'make exited with code 0' });
  t.deepEqual(outcomeOf('make', 2, null), { status: 'error', exitCode: 2, summary: 'make exited with code 2' });
  t.deepEqual(outcomeOf('make', null, 'SIGKILL'), {
    status: 'unknown',
    exitCode: 137,
    summary: 'make was killed by SIGKILL',
  });
  t.is(outcomeOf('make', null, 'SIGINT').exitCode, 130);
});
