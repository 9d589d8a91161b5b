// tml job open: the URL of the job's web page, and a browser opener started only at a terminal.

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jobPageUrl, opener, startOpener } from '../../tml/open-command.js';
import { program, testWith } from '../helpers/tools.js';
import { TML_CLI } from '../switchboard/process.js';
import { makeHome, runTml } from './spawn.js';

const ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

/** A directory with a fake `xdg-open` that writes the URL it was given to `opened`. */
function fakeOpener(): { dir: string; opened: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tml-open-'));
  const opened = join(dir, 'opened');
  const script = join(dir, 'xdg-open');
  writeFileSync(script, `#!/bin/sh\nprintf '%s' "$1" > '${opened}.tmp' && mv '${opened}.tmp' '${opened}'\n`);
  chmodSync(script, 0o755);
  return { dir, opened, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function waitForFile(path: string, ms = 5000): Promise<string> {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} never appeared`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return readFileSync(path, 'utf8');
}

test("the job's page is /jobs/ID under the switchboard's URL, path and trailing slashes kept right", (t) => {
  t.is(jobPageUrl('https://swb.example.org', ID), `https://swb.example.org/jobs/${ID}`);
  t.is(jobPageUrl('https://example.org/treadmill//', ID), `https://example.org/treadmill/jobs/${ID}`);
});

test('the opener is xdg-open on PATH (open on macOS), or none', (t) => {
  const f = fakeOpener();
  t.teardown(f.cleanup);
  t.is(opener({ PATH: `/nonexistent:${f.dir}` }, 'linux'), join(f.dir, 'xdg-open'));
  t.is(opener({ PATH: '/nonexistent' }, 'linux'), null);
  t.is(opener({}, 'linux'), null);
  t.is(opener({ PATH: f.dir }, 'darwin'), null, 'macOS has open, not xdg-open');
});

test('the opener is started with the URL and left running on its own', async (t) => {
  const f = fakeOpener();
  t.teardown(f.cleanup);
  t.true(await startOpener(join(f.dir, 'xdg-open'), `http://sb/jobs/${ID}`));
  t.is(await waitForFile(f.opened), `http://sb/jobs/${ID}`);
  t.false(await startOpener(join(f.dir, 'missing'), 'x'));
});

test('tml job open prints the URL and, with stdout not a terminal, starts no browser', async (t) => {
  const f = fakeOpener();
  const home = makeHome();
  t.teardown(() => {
    f.cleanup();
    home.cleanup();
  });
  // No switchboard listens there: printing the URL needs no request.
  const env = { PATH: `${f.dir}:${process.env.PATH}` };
  const r = await runTml(['-u', 'http://127.0.0.1:9/', 'job', 'open', ID], home, { env });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, `http://127.0.0.1:9/jobs/${ID}\n`);
  t.is(r.stderr, '');
  const j = await runTml(['-u', 'http://127.0.0.1:9', 'job', 'open', ID, '--json'], home, { env });
  t.deepEqual(JSON.parse(j.stdout), { job_id: ID, url: `http://127.0.0.1:9/jobs/${ID}` });
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.false(existsSync(f.opened));
});

test('tml job open with a bad id is a usage error', async (t) => {
  const home = makeHome();
  t.teardown(() => home.cleanup());
  const r = await runTml(['-u', 'http://127.0.0.1:9', 'job', 'open', 'nope'], home);
  t.is(r.status, 2);
  t.is(r.stderr, 'tml: job id must be a UUID, got "nope"\n');
});

const withScript = testWith(program('script', 'bsdutils'));

withScript('at a terminal, tml job open also starts xdg-open with the URL', async (t) => {
  const f = fakeOpener();
  const home = makeHome();
  t.teardown(() => {
    f.cleanup();
    home.cleanup();
  });
  // script(1) gives tml a pseudo-terminal as stdout, as a person's shell does.
  const command = `'${process.execPath}' '${TML_CLI}' -u http://127.0.0.1:9 job open ${ID}`;
  const r = spawnSync('script', ['-qec', command, '/dev/null'], {
    encoding: 'utf8',
    env: { ...process.env, ...home.env, PATH: `${f.dir}:${process.env.PATH}` },
  });
  t.is(r.status, 0, r.stderr);
  t.true(r.stdout.includes(`http://127.0.0.1:9/jobs/${ID}`));
  t.is(await waitForFile(f.opened), `http://127.0.0.1:9/jobs/${ID}`);
});
