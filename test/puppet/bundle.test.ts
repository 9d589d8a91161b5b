// The single-file bundle (`npm run bundle`) must work with plain node and no node_modules:
// it is what gets copied into images. Runs the end-to-end flow with it, alone in an empty dir.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, promises as fs, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST, JOB_ID, startJob, waitFor, run } from './harness.js';

const ROOT = path.join(DIST, '..');
let bundle = '';

let bundleDir = '';

test.before(() => {
  bundleDir = mkdtempSync(path.join(os.tmpdir(), 'tml-puppet-bundle-'));
  bundle = path.join(bundleDir, 'tml-puppet.mjs');
  // `npm run bundle` exactly, from the current sources, but written to an empty directory of
  // its own (a later --outfile wins), so dist/tml-puppet.mjs is never half-written under
  // another test that might be using it
  execFileSync('npm', ['run', 'bundle', '--silent', '--', `--outfile=${bundle}`], { cwd: ROOT, stdio: 'ignore' });
});

test.after.always(() => rmSync(bundleDir, { recursive: true, force: true }));

test('the bundle sits alone in its directory, with no node_modules near it', (t) => {
  t.deepEqual(readdirSync(bundleDir), ['tml-puppet.mjs']);
  t.false(existsSync(path.join(os.tmpdir(), 'node_modules')));
});

test('the bundle passes the end-to-end flow: start-up, files, reports, job run, commands', async (t) => {
  const job = await startJob(t, { cli: [process.execPath, bundle] });
  t.is(await fs.readFile(path.join(job.jobInfoDir, 'job-id'), 'utf8'), JOB_ID);
  t.is(statSync(path.join(job.paramsDir, 'token')).mode & 0o777, 0o644);
  t.is((await job.client(['parameter', 'get', 'board'])).stdout, 'nrf52840dk');
  t.is((await job.client(['job', 'substate', 'flashing'])).code, 0);
  const r = await job.client(['job', 'run', '--terminate', '--', 'sh', '-c', 'exit 2']);
  t.is(r.code, 2);
  await waitFor('terminatejob', () => job.eventsOf('terminatejob').length === 1);
  t.deepEqual(
    job.events.map(([e]) => e.type),
    ['ready', 'reportsubstate', 'declareworkloadexitstatus', 'terminatejob'],
  );
  const cmd = job.server.runCommand('pwd');
  t.deepEqual(await once(cmd, 'exit'), [0, false]);
});

test('the bundle runs as an executable file (shebang) and prints its help', async (t) => {
  const r = await run(bundle, ['--help']);
  t.is(r.code, 0);
  t.regex(r.stdout, /tml-puppet job/);
});

test('the bundle collects host info without node_modules', async (t) => {
  const r = await run(process.execPath, [bundle, 'host', 'info', '--json']);
  t.is(r.code, 0);
  const info = JSON.parse(r.stdout) as { os: { platform: string } | null; errors: string[] };
  t.is(info.os?.platform, process.platform);
});

test('--version prints the package version, from the bundle alone as from the checkout', async (t) => {
  const { version } = JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const fromBundle = await run(process.execPath, [bundle, '--version']);
  t.deepEqual([fromBundle.code, fromBundle.stdout], [0, `${version}\n`]);
  const fromCheckout = await run(process.execPath, [path.join(DIST, 'puppet', 'cli.js'), '--version']);
  t.deepEqual([fromCheckout.code, fromCheckout.stdout], [0, `${version}\n`]);
});
