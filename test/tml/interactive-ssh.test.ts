// `tml job ssh`'s command line, built from a job's status without running ssh.

import test from 'ava';
import { knownHostsLines, sshArgs, sshTarget } from '../../tml/ssh-command.js';
import { jobStatus } from './fake-switchboard.js';

const J = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

function ready(endpoints: Array<{ host: string; port: number }> | null, user: string | null, keys: string[] | null) {
  const s = jobStatus(J, { state: 'ready' });
  s.state.ssh_endpoints = endpoints;
  s.state.ssh_user = user;
  s.state.ssh_host_keys = keys;
  return s;
}

test('the target is the first endpoint, as the job status user', (t) => {
  const s = ready(
    [
      { host: '127.0.0.1', port: 40022 },
      { host: '::1', port: 22 },
    ],
    'tml',
    null,
  );
  t.deepEqual(sshTarget(J, s), { user: 'tml', host: '127.0.0.1', port: 40022, hostKeys: [] });
});

test('a job without endpoints or without a user is an error naming the job and its state', (t) => {
  t.throws(() => sshTarget(J, ready(null, 'tml', null)), {
    message: new RegExp(`^job ${J} has no SSH endpoint \\(state ready;`),
  });
  t.throws(() => sshTarget(J, ready([], 'tml', null)), { message: /has no SSH endpoint/ });
  t.throws(() => sshTarget(J, ready([{ host: 'h', port: 22 }], null, null)), { message: `job ${J} has no SSH user` });
});

test('without host keys, ssh neither checks nor keeps one, and logs in with the identity file', (t) => {
  const target = { user: 'tml', host: '127.0.0.1', port: 40022, hostKeys: [] };
  t.deepEqual(sshArgs(target, { identityFile: '/k/ssh-key', knownHostsFile: null, extra: [] }), [
    '-oStrictHostKeyChecking=no',
    '-oUserKnownHostsFile=/dev/null',
    '-i',
    '/k/ssh-key',
    '-p',
    '40022',
    '--',
    'tml@127.0.0.1',
  ]);
});

test('with host keys, ssh checks them against the given file; words after -- are the remote command', (t) => {
  const target = { user: 'tml', host: 'lab', port: 22, hostKeys: ['ssh-ed25519 AAAA'] };
  t.deepEqual(sshArgs(target, { identityFile: null, knownHostsFile: '/t/known_hosts', extra: ['uname', '-a'] }), [
    '-oStrictHostKeyChecking=yes',
    '-oUserKnownHostsFile=/t/known_hosts',
    '-p',
    '22',
    '--',
    'tml@lab',
    'uname',
    '-a',
  ]);
});

test('a user or host from the switchboard that looks like an option stays after --', (t) => {
  const target = { user: '-oProxyCommand=touch /tmp/x', host: 'h', port: 22, hostKeys: [] };
  const args = sshArgs(target, { identityFile: null, knownHostsFile: null, extra: [] });
  t.true(args.indexOf('--') < args.indexOf('-oProxyCommand=touch /tmp/x@h'));
});

test('known_hosts names the host as ssh looks it up: bare on port 22, [host]:port otherwise', (t) => {
  t.is(knownHostsLines({ user: 'u', host: 'h', port: 22, hostKeys: ['k1', 'k2'] }), 'h k1\nh k2\n');
  t.is(knownHostsLines({ user: 'u', host: 'h', port: 2201, hostKeys: ['k1'] }), '[h]:2201 k1\n');
});
