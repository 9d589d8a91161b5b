import test from 'ava';
import fc from 'fast-check';
import { UsageError } from '../../protocol/cli.js';
import type { SupervisorStatusFull } from '../../tml/api-ext.js';
import { availability, findSupervisor, holderText, pools } from '../../tml/supervisors.js';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';
const C = '00000000-0000-4000-8000-00000000000c';
const JOB = '11111111-2222-4333-8444-555555555555';

const busy = (name: string, tags: string[]): SupervisorStatusFull => ({
  status: 'busy',
  job_id: JOB,
  job_state: { state: 'ready' },
  name,
  tags,
  job_owner: 'alice',
  job_since: '2025-10-31T12:00:00Z',
});

const LIST: Record<string, SupervisorStatusFull> = {
  [A]: { status: 'idle', name: 'rpi-1', tags: ['board:x', 'site:lab'] },
  [B]: busy('rpi-2', ['board:x']),
  [C]: {
    status: 'busy_disconnected',
    job_id: JOB,
    job_state: { state: 'ready' },
    name: 'qemu',
    tags: ['board:qemu', 'site:lab'],
  },
};

test('a pool is a tag, with how many of its supervisors are idle, busy or disconnected', (t) => {
  t.deepEqual(pools(LIST), [
    { tag: 'board:qemu', members: ['qemu'], idle: 0, busy: 0, disconnected: 1 },
    { tag: 'board:x', members: ['rpi-1', 'rpi-2'], idle: 1, busy: 1, disconnected: 0 },
    { tag: 'site:lab', members: ['qemu', 'rpi-1'], idle: 1, busy: 0, disconnected: 1 },
  ]);
});

test('every supervisor is counted once in each of its pools', (t) => {
  const status = fc.constantFrom<SupervisorStatusFull['status']>('idle', 'busy', 'disconnected', 'busy_disconnected');
  fc.assert(
    fc.property(
      fc.dictionary(fc.uuid(), fc.record({ status, tags: fc.array(fc.constantFrom('a', 'b', 'c')) })),
      (raw) => {
        const list = Object.fromEntries(
          Object.entries(raw).map(([id, s]) => [
            id,
            (s.status === 'busy' || s.status === 'busy_disconnected'
              ? { status: s.status, job_id: JOB, job_state: { state: 'ready' }, tags: s.tags }
              : { status: s.status, tags: s.tags }) as SupervisorStatusFull,
          ]),
        );
        return pools(list).every(
          (p) =>
            p.idle + p.busy + p.disconnected === p.members.length &&
            p.members.length === Object.values(list).filter((s) => s.tags!.includes(p.tag)).length,
        );
      },
    ),
  );
  t.pass();
});

test('a supervisor is found by id or by name; a typo is named', (t) => {
  t.is(findSupervisor(LIST, A), A);
  t.is(findSupervisor(LIST, 'rpi-2'), B);
  t.throws(() => findSupervisor(LIST, 'rpi-3'), {
    instanceOf: UsageError,
    message: 'no supervisor named "rpi-3" (tml supervisor list shows them)',
  });
  t.throws(() => findSupervisor({ [A]: { status: 'idle' } }, 'rpi-1'), { message: /reports no names: give an id/ });
  t.throws(() => findSupervisor({ [A]: LIST[A]!, [B]: { status: 'idle', name: 'rpi-1' } }, 'rpi-1'), {
    message: /^2 supervisors are named "rpi-1"/,
  });
});

test('a busy supervisor is held by the owner of its job since it started', (t) => {
  t.is(holderText(LIST[B]!), `held by alice since 2025-10-31T12:00:00Z (job ${JOB})`);
  t.is(holderText(LIST[A]!), null);
  t.deepEqual(Object.values(LIST).map(availability), ['idle', 'busy', 'disconnected']);
});
