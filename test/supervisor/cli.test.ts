import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const CLI = fileURLToPath(new URL('../../supervisor/cli.js', import.meta.url));

async function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr };
}

test('without a token it exits non-zero with one clear line', async (t) => {
  const { code, stderr } = await run(['--switchboard', 'http://127.0.0.1:9', '--id', 'x', '--store', tmpdir()]);
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: no supervisor token: pass --token or set TML_SUPERVISOR_TOKEN\n');
});

test('a store that is not a directory is refused', async (t) => {
  const { code, stderr } = await run(
    ['--switchboard', 'http://127.0.0.1:9', '--id', 'x', '--store', '/nonexistent/store'],
    { TML_SUPERVISOR_TOKEN: 't' },
  );
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: image store /nonexistent/store is not a directory\n');
});

test('an unusable switchboard URL is refused before anything is created', async (t) => {
  const work = join(await mkdtemp(join(tmpdir(), 'tml-sup-cli-')), 'work');
  t.teardown(() => rm(join(work, '..'), { recursive: true, force: true }));
  const { code, stderr } = await run(
    ['--switchboard', 'ftp://h', '--id', 'x', '--store', tmpdir(), '--work-dir', work],
    { TML_SUPERVISOR_TOKEN: 't' },
  );
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: switchboard URL must be http(s):// or ws(s)://, got ftp://\n');
  t.false(existsSync(work));
});

test('a token the switchboard rejects ends the supervisor with a clear error', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_info, done) => done(false, 401) });
  await once(wss, 'listening');
  t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const { code, stderr } = await run(
    ['--switchboard', url, '--id', 'abc', '--store', tmpdir(), '--log-level', 'warn'],
    { TML_SUPERVISOR_TOKEN: 'wrong' },
  );
  t.is(code, 1);
  t.regex(
    stderr,
    /^tml-supervisor: the switchboard rejected the supervisor token \(HTTP 401\) at ws:\/\/127\.0\.0\.1:\d+\/api\/v1\/supervisors\/abc\/connect\n$/,
  );
});
