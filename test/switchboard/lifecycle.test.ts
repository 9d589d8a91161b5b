import test from 'ava';
import { EXECUTION_STATES, EXIT_STATUSES, type ExecutionState, type ExitStatus } from '../../protocol/job.js';
import {
  BOOK_EXIT_STATUS_IN_STATE,
  BOOK_EXIT_STATUS_TRANSITIONS,
  BOOK_STATE_TRANSITIONS,
  checkExitStatus,
  NO_STATUS_DECLARED,
  USER_EXIT_STATUS,
  checkStateTransition,
  errorIsNoFailure,
  exitStatusForError,
  exitStatusGroup,
  exitStatusOnSupervisorMove,
} from '../../switchboard/lifecycle.js';

// The three tables as printed in the book (treadmill-book.txt, "Job Lifecycle"), copied verbatim.
const BOOK_TABLE_1 = `
To → From ↓ | Q'd | Sched | Init | Ready | Term-ing | Term'd |
Queued | - | ✔ | ✔ | ✔ | ✔ | ✔ |
Scheduled | ✘ | - | ✔ | ✔ | ✔ | ✔ |
Initializing | ✘ | ✘ | - | ✔ | ✔ | ✔ |
Ready | ✘ | ✘ | ✔ | - | ✔ | ✔ |
Terminating | ✘ | ✘ | ✘ | ✘ | - | ✔ |
Terminated | ✘ | ✘ | ✘ | ✘ | ✘ | - |
`;

const BOOK_TABLE_2 = `
To → From ↓ | SupMF | QTime | IntSupE | SupHSE | JobC | WFS* | SupJDrop | JobTimeout |
SupervisorMatchError | - | ✘ | ✘ | ✘ | ✘ | ✘ | ✘ | ✘ |
QueueTimeout | ✘ | - | ✘ | ✘ | ✘ | ✘ | ✘ | ✘ |
InternalSupervisorError | ✘ | ✘ | - | ✘ | ✘ | ✘ | ✘ | ✘ |
SupervisorHostStartError | ✘ | ✘ | ✘ | - | ✘ | ✘ | ✘ | ✘ |
JobCanceled | ✘ | ✘ | ✘ | ✘ | - | ✘ | ✘ | ✘ |
WorkloadFinished* | ✘ | ✘ | ✔ | ✔ | ✔ | - | ✔ | ✔ |
SupervisorDroppedJob | ✘ | ✘ | ✘ | ✘ | ✘ | ✘ | - | ✘ |
JobTimeout | ✘ | ✘ | ✘ | ✘ | ✘ | ✘ | ✘ | - |
`;

const BOOK_TABLE_3 = `
In Execution State → To Exit Status ↓ | Q'd | Sched | Init | Ready | Term-ing | Term'd |
SupervisorMatchError | ✔ | ✘ | ✘ | ✘ | ✘ | ✘ |
QueueTimeout | ✔ | ✘ | ✘ | ✘ | ✘ | ✘ |
InternalSupervisorError | ✘ | ✔ | ✔ | ✔ | ✔ | ✘ |
SupervisorHostStartError | ✘ | ✔ | ✔ | ✔ | ✔ | ✘ |
JobCanceled | ✘ | ✔ | ✔ | ✔ | ✔ | ✘ |
WorkloadFinished* | ✘ | ✔ | ✔ | ✔ | ✔ | ✘ |
SupervisorJobDropped | ✘ | ✔ | ✔ | ✔ | ✔ | ✘ |
JobTimeout | ✘ | ✔ | ✔ | ✔ | ✔ | ✘ |
`;

const STATE_NAMES: Record<string, ExecutionState> = {
  "Q'd": 'queued',
  Queued: 'queued',
  Sched: 'scheduled',
  Scheduled: 'scheduled',
  Init: 'initializing',
  Initializing: 'initializing',
  Ready: 'ready',
  'Term-ing': 'terminating',
  Terminating: 'terminating',
  "Term'd": 'terminated',
  Terminated: 'terminated',
};

// Group names as the book's columns and rows spell them (SupervisorJobDropped == SupervisorDroppedJob).
const GROUP_NAMES: Record<string, string> = {
  SupMF: 'supervisor_match_error',
  SupervisorMatchError: 'supervisor_match_error',
  QTime: 'queue_timeout',
  QueueTimeout: 'queue_timeout',
  IntSupE: 'internal_supervisor_error',
  InternalSupervisorError: 'internal_supervisor_error',
  SupHSE: 'supervisor_host_start_failure',
  SupervisorHostStartError: 'supervisor_host_start_failure',
  JobC: 'job_canceled',
  JobCanceled: 'job_canceled',
  'WFS*': 'workload_finished',
  'WorkloadFinished*': 'workload_finished',
  SupJDrop: 'supervisor_dropped_job',
  SupervisorDroppedJob: 'supervisor_dropped_job',
  SupervisorJobDropped: 'supervisor_dropped_job',
  JobTimeout: 'job_timeout',
};

type Grid = Array<{ row: string; col: string; cell: '✔' | '✘' | '-' }>;

function parseGrid(text: string): Grid {
  const lines = text
    .trim()
    .split('\n')
    .map((l) =>
      l
        .split('|')
        .map((c) => c.trim())
        .filter((c, i, a) => i < a.length - 1 || c !== ''),
    );
  const cols = lines[0]!.slice(1);
  const cells: Grid = [];
  for (const line of lines.slice(1)) {
    line.slice(1).forEach((cell, i) => cells.push({ row: line[0]!, col: cols[i]!, cell: cell as '✔' | '✘' | '-' }));
  }
  return cells;
}

const expected = (cell: string) => (cell === '✔' ? 1 : cell === '✘' ? 0 : null);

const table1 = parseGrid(BOOK_TABLE_1);
const table2 = parseGrid(BOOK_TABLE_2);
const table3 = parseGrid(BOOK_TABLE_3);

test('the book grids have every cell (6x6, 8x8, 8x6)', (t) => {
  t.is(table1.length, 36);
  t.is(table2.length, 64);
  t.is(table3.length, 48);
});

for (const { row, col, cell } of table1) {
  test(`execution state table: ${row} -> ${col} is ${cell}`, (t) => {
    const from = STATE_NAMES[row]!;
    const to = STATE_NAMES[col]!;
    t.is(BOOK_STATE_TRANSITIONS[from][to], expected(cell));
    // Some actor may take every ✔ transition; none may take a ✘ or '-' one.
    const someoneMay =
      checkStateTransition('switchboard', from, to) === null || checkStateTransition('supervisor', from, to) === null;
    t.is(someoneMay, cell === '✔');
  });
}

for (const { row, col, cell } of table2) {
  test(`exit status transition table: ${row} -> ${col} is ${cell}`, (t) => {
    const from = GROUP_NAMES[row] as keyof typeof BOOK_EXIT_STATUS_TRANSITIONS;
    const to = GROUP_NAMES[col] as keyof typeof BOOK_EXIT_STATUS_TRANSITIONS;
    t.is(BOOK_EXIT_STATUS_TRANSITIONS[from][to], expected(cell));
    if (cell === '-') return;
    // With a state that allows the target, the check follows the cell for every member of the groups.
    for (const f of EXIT_STATUSES.filter((s) => exitStatusGroup(s) === from)) {
      for (const tt of EXIT_STATUSES.filter((s) => exitStatusGroup(s) === to)) {
        const allowed = (['switchboard', 'supervisor'] as const).some((a) =>
          EXECUTION_STATES.some((st) => checkExitStatus(a, st, f, tt) === null),
        );
        t.is(allowed, cell === '✔', `${f} -> ${tt}`);
      }
    }
  });
}

for (const { row, col, cell } of table3) {
  test(`exit status per execution state table: ${row} in ${col} is ${cell}`, (t) => {
    const group = GROUP_NAMES[row] as keyof typeof BOOK_EXIT_STATUS_IN_STATE;
    const state = STATE_NAMES[col]!;
    t.is(BOOK_EXIT_STATUS_IN_STATE[group][state] as number | null, expected(cell));
    for (const status of EXIT_STATUSES.filter((s) => exitStatusGroup(s) === group)) {
      const allowed = (['switchboard', 'supervisor'] as const).some(
        (a) => checkExitStatus(a, state, null, status) === null,
      );
      // The one documented extension in this table: a user may cancel a queued job.
      const extension = status === 'job_canceled' && state === 'queued';
      t.is(allowed, cell === '✔' || extension, status);
    }
  });
}

test('only the switchboard may cancel a queued job', (t) => {
  t.is(checkExitStatus('switchboard', 'queued', null, 'job_canceled'), null);
  t.not(checkExitStatus('supervisor', 'queued', null, 'job_canceled'), null);
});

test('a workload may re-declare its result until the job terminates', (t) => {
  t.is(checkExitStatus('supervisor', 'ready', 'workload_finished_error', 'workload_finished_success'), null);
  t.not(checkExitStatus('supervisor', 'terminated', 'workload_finished_error', 'workload_finished_success'), null);
});

test('only the switchboard may move a job into scheduled', (t) => {
  t.is(checkStateTransition('switchboard', 'queued', 'scheduled'), null);
  t.not(checkStateTransition('supervisor', 'queued', 'scheduled'), null);
});

for (const to of ['initializing', 'ready', 'terminating'] as const) {
  test(`only a supervisor may move a job into ${to}`, (t) => {
    t.is(checkStateTransition('supervisor', 'scheduled', to), null);
    t.not(checkStateTransition('switchboard', 'scheduled', to), null);
  });
}

test('both the switchboard and a supervisor may terminate a job', (t) => {
  t.is(checkStateTransition('supervisor', 'ready', 'terminated'), null);
  t.is(checkStateTransition('switchboard', 'ready', 'terminated'), null);
});

const SETTERS: Record<ExitStatus, Array<'switchboard' | 'supervisor'>> = {
  supervisor_match_error: ['switchboard'],
  queue_timeout: ['switchboard'],
  internal_supervisor_error: ['switchboard', 'supervisor'],
  supervisor_host_start_failure: ['supervisor'],
  job_canceled: ['switchboard'],
  workload_finished_success: ['supervisor'],
  workload_finished_error: ['supervisor'],
  workload_finished_unknown: ['supervisor'],
  supervisor_dropped_job: ['switchboard'],
  job_timeout: ['switchboard'],
};

for (const status of EXIT_STATUSES) {
  test(`${status} may be set only by ${SETTERS[status].join(' and ')}`, (t) => {
    for (const actor of ['switchboard', 'supervisor'] as const) {
      const some = EXECUTION_STATES.some((s) => checkExitStatus(actor, s, null, status) === null);
      t.is(some, SETTERS[status].includes(actor), actor);
    }
  });
}

test('a terminated job keeps its exit status', (t) => {
  for (const from of EXIT_STATUSES) {
    for (const to of EXIT_STATUSES) {
      t.not(checkExitStatus('switchboard', 'terminated', from, to), null);
      t.not(checkExitStatus('supervisor', 'terminated', from, to), null);
    }
  }
});

test('a supervisor ending a job without an exit status makes it workload_finished_unknown; with one, keeps it', (t) => {
  t.deepEqual(exitStatusOnSupervisorMove('terminated', null), {
    to: 'workload_finished_unknown',
    message: NO_STATUS_DECLARED,
  });
  t.is(exitStatusOnSupervisorMove('terminated', 'job_canceled'), undefined);
  t.is(exitStatusOnSupervisorMove('ready', null), undefined);
});

test('image errors fail the host start; other supervisor errors are internal; already-so is no failure', (t) => {
  for (const kind of ['ImageNotFound', 'ImageInvalid', 'ImageNotCompatible'] as const) {
    t.is(exitStatusForError(kind), 'supervisor_host_start_failure');
  }
  t.is(exitStatusForError('InternalError'), 'internal_supervisor_error');
  t.true(errorIsNoFailure('AlreadyRunning'));
  t.true(errorIsNoFailure('AlreadyStopping'));
  t.false(errorIsNoFailure('ImageNotFound'));
  t.is(USER_EXIT_STATUS.error, 'workload_finished_error');
});
