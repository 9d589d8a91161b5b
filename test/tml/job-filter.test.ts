import test from 'ava';
import { filterJobs, listQuery } from '../../tml/job-filter.js';
import { jobListQueryString } from '../../protocol/job-query.js';
import { jobStatus } from './fake-switchboard.js';

const NOW = Date.parse('2025-10-31T12:00:00Z');

test('filters become the query, in a fixed order, with book names and durations resolved', (t) => {
  const q = listQuery(
    { since: '2h', exitStatus: 'JobCanceled', state: 'terminated', tag: 'board:x', supervisor: 'rpi-1' },
    NOW,
  );
  t.is(
    jobListQueryString(q),
    '?limit=200&state=terminated&exit_status=job_canceled&tag=board%3Ax&supervisor=rpi-1&since=2025-10-31T10%3A00%3A00.000Z',
  );
  t.is(jobListQueryString(listQuery({ limit: '5', cursor: 'abc' }, NOW)), '?limit=5&cursor=abc');
});

test('a bad filter is a usage error listing what it can be', (t) => {
  t.throws(() => listQuery({ state: 'done' }, NOW), {
    message: /^--state must be one of queued, scheduled, initializing, ready, terminating, terminated, got "done"$/,
  });
  t.throws(() => listQuery({ exitStatus: 'Failed' }, NOW), {
    message: /^--exit-status must be one of SupervisorMatchError, /,
  });
  t.throws(() => listQuery({ since: 'yesterday' }, NOW), { message: /^--since must be an RFC 3339 time/ });
  t.throws(() => listQuery({ limit: '0' }, NOW), {
    message: '--limit must be a whole number from 1 to 10000, got "0"',
  });
});

test('filters are applied again to what came back, as far as the answers show', (t) => {
  const a = '00000000-0000-4000-8000-00000000000a';
  const b = '00000000-0000-4000-8000-00000000000b';
  const jobs = {
    [a]: jobStatus(a, { state: 'terminated', exit: 'job_canceled', tags: 'board:x', queuedAt: '2025-10-31T11:00:00Z' }),
    [b]: jobStatus(b, { state: 'ready', tags: 'board:y', queuedAt: '2025-10-30T11:00:00Z' }),
  };
  t.deepEqual(Object.keys(filterJobs(listQuery({ state: 'terminated' }, NOW), jobs).jobs), [a]);
  t.deepEqual(Object.keys(filterJobs(listQuery({ tag: 'board:y' }, NOW), jobs).jobs), [b]);
  t.deepEqual(Object.keys(filterJobs(listQuery({ since: '2h' }, NOW), jobs).jobs), [a]);
  const { tag_config: _t, queued_at: _q, ...upstream } = jobs[b]!;
  const r = filterJobs(listQuery({ tag: 'board:x', since: '1h' }, NOW), { [b]: upstream });
  t.deepEqual(Object.keys(r.jobs), [b]);
  t.deepEqual(r.notApplied, ['--tag', '--since']);
});
