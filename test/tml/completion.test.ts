import test from 'ava';
import { spawnSync } from 'node:child_process';
import { GLOBAL_OPTIONS, TABLE } from '../../tml/commands.js';
import { completionScript } from '../../tml/completion.js';
import { makeHome, runTml } from './spawn.js';
import { program, testWith } from '../helpers/tools.js';

test('tml completion bash and zsh print scripts that name every command', async (t) => {
  const home = makeHome();
  for (const shell of ['bash', 'zsh']) {
    const r = await runTml(['completion', shell], home);
    t.is(r.status, 0, r.stderr);
    for (const word of [
      'login',
      'logout',
      'whoami',
      'enqueue',
      'run',
      'events',
      'pools',
      'release',
      '--tag-config',
      '--completion-timeout',
    ]) {
      t.true(r.stdout.includes(word), `${shell}: ${word}`);
    }
  }
  t.regex((await runTml(['completion', 'zsh'], home)).stdout, /^#compdef tml\n/);
  const none = await runTml(['completion'], home, { env: { SHELL: '/bin/fish' } });
  t.is(none.status, 2);
  t.regex(none.stderr, /^tml: give the shell: tml completion bash, or tml completion zsh/);
  home.cleanup();
});

function complete(line: string): string[] {
  const script = completionScript('bash', TABLE, GLOBAL_OPTIONS);
  const words = line.split(' ');
  const r = spawnSync(
    'bash',
    [
      '-c',
      `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _tml; printf '%s\\n' "\${COMPREPLY[@]}"`,
    ],
    { encoding: 'utf8' },
  );
  return r.stdout.trim().split('\n');
}

test('the bash script completes commands at each level and the flags of a command', (t) => {
  t.deepEqual(complete('tml jo'), ['job']);
  t.deepEqual(complete('tml job en'), ['enqueue']);
  t.deepEqual(complete('tml -u http://x supervisor p'), ['pools']);
  t.deepEqual(complete('tml job run IMG --completion-t'), ['--completion-text', '--completion-timeout']);
  t.deepEqual(complete('tml job list --no-h'), ['--no-header']);
});

testWith(program('zsh', 'zsh'))('the zsh script is valid zsh', (t) => {
  const r = spawnSync('zsh', ['-n'], { input: completionScript('zsh', TABLE, GLOBAL_OPTIONS), encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
});
