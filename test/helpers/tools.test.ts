import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findOnPath } from './tools.js';

const run = promisify(execFile);

// A group file that needs a tool no machine has, run under a fresh ava process each time.
const GROUP = `
import { program, testWith } from '${new URL('./tools.js', import.meta.url).href}';
const qtest = testWith(program('tml-no-such-tool', 'tml-no-such-package'));
qtest.before(() => { throw new Error('a hook of a skipped group ran'); });
qtest('needs the tool', (t) => t.pass());
`;

async function runGroup(env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tml-tools-'));
  try {
    await writeFile(join(dir, 'group.test.mjs'), GROUP);
    const ava = join(process.cwd(), 'node_modules', 'ava', 'entrypoints', 'cli.mjs');
    try {
      const { stdout, stderr } = await run(process.execPath, [ava, '--tap', 'group.test.mjs'], {
        cwd: dir,
        env: { ...process.env, ...env },
      });
      return { code: 0, output: stdout + stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, output: e.stdout + e.stderr };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a tool missing from PATH is not found, one on PATH is', (t) => {
  t.is(findOnPath('tml-no-such-tool'), null);
  t.truthy(findOnPath('sh'));
  t.is(findOnPath('sh', '/nonexistent'), null);
});

test('a group whose tool is missing is skipped with one loud line naming the tool and its apt-get install', async (t) => {
  const r = await runGroup({ TML_TEST_REQUIRE_ALL: '' });
  t.is(r.code, 0, r.output);
  t.regex(
    r.output,
    /SKIPPED: these tests need tml-no-such-tool, which is not installed \(apt-get install tml-no-such-package\)/,
  );
  t.regex(r.output, /# skip 1/);
  t.notRegex(r.output, /a hook of a skipped group ran/);
});

test('under TML_TEST_REQUIRE_ALL=1 a missing tool fails the group instead', async (t) => {
  const r = await runGroup({ TML_TEST_REQUIRE_ALL: '1' });
  t.not(r.code, 0);
  t.regex(r.output, /# fail 1/);
  t.regex(r.output, /TML_TEST_REQUIRE_ALL=1: tml-no-such-tool is missing/);
});
