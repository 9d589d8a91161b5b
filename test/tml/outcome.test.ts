// Job outcomes as tml reports them: exit codes and the book's names.
import test from 'ava';
import { EXIT_CODES, bookName } from '../../tml/outcome.js';

test('every job outcome has its own tml exit code', (t) => {
  const codes = Object.values(EXIT_CODES);
  t.is(new Set(codes).size, codes.length);
  t.is(EXIT_CODES.workload_finished_success, 0);
});

test("exit statuses print with the book's names", (t) => {
  t.is(bookName('workload_finished_success'), 'WorkloadFinishedSuccess');
  t.is(bookName('supervisor_dropped_job'), 'SupervisorDroppedJob');
  t.is(bookName('supervisor_host_start_failure'), 'SupervisorHostStartError');
});
