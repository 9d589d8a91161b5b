import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { FakeSupervisor, startHarness } from '../switchboard/harness.js';
import { adminOk, serve } from '../switchboard/process.js';

const CLI = fileURLToPath(new URL('../../supervisor/cli.js', import.meta.url));
const ID = '7d55ec6d-15e7-4b84-8c04-7c085fe60df4';

function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return { child, stderr: () => stderr };
}

async function run(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { child, stderr } = spawnCli(args, env);
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr: stderr() };
}

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tml-sup-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('--version works without any other flag', async (t) => {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const { code, stdout } = await run(['--version']);
  t.is(code, 0);
  t.is(stdout, `${pkg.version}\n`);
});

test('without a token it exits 2 with one clear line', async (t) => {
  const { code, stderr } = await run(['--switchboard', 'http://127.0.0.1:9', '--id', ID, '--store', tmpdir()]);
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: no supervisor token: pass --token or set TML_SUPERVISOR_TOKEN\n');
});

test('an id that is not a UUID is a usage error', async (t) => {
  const { code, stderr } = await run(['--switchboard', 'http://127.0.0.1:9', '--id', 'x', '--store', tmpdir()], {
    TML_SUPERVISOR_TOKEN: 't',
  });
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: --id: "x" is not a UUID\n');
});

test('a store that is not a directory is refused', async (t) => {
  const { code, stderr } = await run(
    ['--switchboard', 'http://127.0.0.1:9', '--id', ID, '--store', '/nonexistent/store'],
    { TML_SUPERVISOR_TOKEN: 't' },
  );
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: image store /nonexistent/store is not a directory\n');
});

test('an unusable switchboard URL is refused before anything is created', async (t) => {
  const work = join(await scratch(t), 'work');
  const { code, stderr } = await run(
    ['--switchboard', 'ftp://h', '--id', ID, '--store', tmpdir(), '--work-dir', work],
    { TML_SUPERVISOR_TOKEN: 't' },
  );
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: switchboard URL "ftp://h" must be http(s):// or ws(s)://\n');
  t.false(existsSync(work));
});

test('a token the switchboard rejects ends the supervisor with exit 1 and a clear error', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_info, done) => done(false, 401) });
  await once(wss, 'listening');
  t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const { code, stderr } = await run(['--switchboard', url, '--id', ID, '--store', tmpdir(), '--log-level', 'warn'], {
    TML_SUPERVISOR_TOKEN: 'wrong',
  });
  t.is(code, 1);
  t.is(
    stderr,
    `tml-supervisor: the switchboard rejected the supervisor token (HTTP 401) at ws://${url.slice(7)}/api/v1/supervisors/${ID}/connect\n`,
  );
});

test('with --log-format json every log record is one JSON object; the failure line stays plain', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_info, done) => done(false, 401) });
  await once(wss, 'listening');
  t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const { code, stderr } = await run(['--switchboard', url, '--id', ID, '--store', tmpdir(), '--log-format', 'json'], {
    TML_SUPERVISOR_TOKEN: 'wrong',
  });
  t.is(code, 1);
  const lines = stderr.trimEnd().split('\n');
  t.regex(lines.pop()!, /^tml-supervisor: the switchboard rejected the supervisor token/);
  t.true(lines.length > 0);
  for (const line of lines) {
    const record = JSON.parse(line) as { level: string };
    t.deepEqual(Object.keys(record), ['time', 'level', 'message']);
    t.true(['info', 'warn', 'error'].includes(record.level), line);
  }
  t.true(lines.some((l) => (JSON.parse(l) as { message: string }).message.startsWith(`supervisor ${ID} started`)));
});

test('a supervisor id the switchboard does not know is named as such, exit 1', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const { code, stderr } = await run(['--switchboard', h.url, '--id', ID, '--store', tmpdir(), '--log-level', 'warn'], {
    TML_SUPERVISOR_TOKEN: 'whatever',
  });
  t.is(code, 1);
  t.regex(stderr, new RegExp(`^tml-supervisor: the switchboard does not know supervisor id ${ID} `));
  t.regex(
    stderr,
    /\(HTTP 404: no supervisor with id [-0-9a-f]+ is registered; register it with tml-switchboard supervisor add/,
  );
  t.notRegex(stderr, /rejected|wrong token/);
});

test('a second tml-supervisor for a connected id exits 1 saying another instance holds it; both sides log it', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const sup = await h.addSupervisor('rack-1', 'board:x');
  const first = await FakeSupervisor.connect(h.url, sup.id, sup.token);
  t.teardown(() => first.close());
  const { code, stderr } = await run(
    ['--switchboard', h.url, '--id', sup.id, '--store', tmpdir(), '--log-level', 'warn'],
    { TML_SUPERVISOR_TOKEN: sup.token },
  );
  t.is(code, 1);
  t.regex(
    stderr,
    new RegExp(
      `^tml-supervisor: another tml-supervisor instance holds supervisor id ${sup.id} at the switchboard \\(HTTP 409: `,
    ),
  );
  t.true(
    h.logLines.some(
      (l) =>
        l.includes('refused a supervisor connection') && l.includes('another tml-supervisor instance holds this id'),
    ),
  );
  t.is(first.ws.readyState, first.ws.OPEN);
});

test("--config reads upstream's supervisor TOML: a supervisor registered with its id and token connects", async (t) => {
  t.timeout(30_000);
  const dir = await scratch(t);
  const db = join(dir, 'sb.sqlite');
  const store = join(dir, 'store');
  await mkdir(store);
  // Upstream's example configs hold the token without base64 padding; token_file is padded.
  const token = randomBytes(128).toString('base64');
  await writeFile(join(dir, 'token'), `${token}\n`);
  adminOk([
    'supervisor',
    'add',
    'qemu-1',
    '--db',
    db,
    '--tags',
    'board:x',
    '--id',
    ID,
    '--token-file',
    join(dir, 'token'),
  ]);
  const sb = await serve(db);
  t.teardown(async () => {
    sb.child.kill('SIGTERM');
    await sb.exited;
  });
  const config = join(dir, 'supervisor.toml');
  await writeFile(
    config,
    `[base]
supervisor_id = "${ID}"
coord_connector = "ws_connector"

[ws_connector]
token = "${token.replace(/=+$/, '')}"
switchboard_uri = "${sb.url.replace('http', 'ws')}"

[image_store]
http_endpoint = "https://localhost:8080"
fs_endpoint = "${store}"

[qemu]
qemu_binary = "qemu-kvm"
`,
  );
  const sup = spawnCli(['-c', config, '--log-level', 'info']);
  t.teardown(() => {
    sup.child.kill('SIGTERM');
  });
  while (!sb.stderr().includes(`supervisor qemu-1 (${ID}) connected`)) {
    if (sup.child.exitCode !== null) t.fail(`tml-supervisor exited: ${sup.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.regex(sup.stderr(), /\[qemu\] is used only with --host qemu; ignored/);
  sup.child.kill('SIGTERM');
  const [code] = (await once(sup.child, 'exit')) as [number | null];
  t.is(code, 0);
});

test('flags override the config file', async (t) => {
  const dir = await scratch(t);
  const config = join(dir, 'supervisor.toml');
  await writeFile(config, `[base]\nsupervisor_id = "${ID}"\n[ws_connector]\nswitchboard_uri = "ftp://nowhere"\n`);
  const { code, stderr } = await run(['--config', config, '--switchboard', 'ftp://flag', '--store', '/nonexistent'], {
    TML_SUPERVISOR_TOKEN: 't',
  });
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: image store /nonexistent is not a directory\n');
  const other = await run(['--config', config, '--store', tmpdir(), '--switchboard', 'ftp://flag'], {
    TML_SUPERVISOR_TOKEN: 't',
  });
  t.is(other.stderr, 'tml-supervisor: switchboard URL "ftp://flag" must be http(s):// or ws(s)://\n');
});

test('a config file with a typo in a section tml-supervisor reads is a usage error naming the key', async (t) => {
  const dir = await scratch(t);
  const config = join(dir, 'supervisor.toml');
  await writeFile(config, `[ws_connector]\nswitchboard_url = "ws://x"\n`);
  const { code, stderr } = await run(['--config', config]);
  t.is(code, 2);
  t.is(
    stderr,
    `tml-supervisor: --config: [ws_connector] has unknown key "switchboard_url" (known: switchboard_uri, token, token_file)\n`,
  );
});

/** A loopback URL nothing listens on any more. */
async function deadUrl(): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  return url;
}

test('--switchboard is repeatable: a replica that cannot be reached is passed over for the next', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const sup = await h.addSupervisor('rack-1', 'board:x');
  const dead = await deadUrl();
  const cli = spawnCli(['--switchboard', dead, '--switchboard', h.url, '--id', sup.id, '--store', tmpdir()], {
    TML_SUPERVISOR_TOKEN: sup.token,
  });
  t.teardown(() => {
    cli.child.kill('SIGTERM');
  });
  while (!cli.stderr().includes(`connected to the switchboard at ws://${h.url.slice(7)}/`)) {
    if (cli.child.exitCode !== null) t.fail(`tml-supervisor exited: ${cli.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.regex(cli.stderr(), new RegExp(`switchboard ${dead}: cannot connect \\([^)]*\\); moving to ${h.url} now\\n`));
  cli.child.kill('SIGTERM');
  const [code] = (await once(cli.child, 'exit')) as [number | null];
  t.is(code, 0);
});

test('every switchboard URL refusing the supervisor for good ends it with exit 1 and one line', async (t) => {
  const urls: string[] = [];
  for (let i = 0; i < 2; i++) {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (_info, done) => done(false, 401) });
    await once(wss, 'listening');
    t.teardown(() => new Promise<void>((resolve) => wss.close(() => resolve())));
    urls.push(`http://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  }
  const { code, stderr } = await run(
    ['--switchboard', urls.join(','), '--id', ID, '--store', tmpdir(), '--log-level', 'error'],
    { TML_SUPERVISOR_TOKEN: 'wrong' },
  );
  t.is(code, 1);
  t.is(
    stderr,
    `tml-supervisor: ${urls
      .map(
        (u) =>
          `the switchboard rejected the supervisor token (HTTP 401) at ws://${u.slice(7)}/api/v1/supervisors/${ID}/connect`,
      )
      .join('; ')}\n`,
  );
});

test('a bad URL among several switchboard URLs is a usage error naming it', async (t) => {
  for (const args of [
    ['--switchboard', 'http://127.0.0.1:9', '--switchboard', 'ftp://h'],
    ['--switchboard', 'http://127.0.0.1:9,ftp://h'],
  ]) {
    const { code, stderr } = await run([...args, '--id', ID, '--store', tmpdir()], { TML_SUPERVISOR_TOKEN: 't' });
    t.is(code, 2);
    t.is(stderr, 'tml-supervisor: switchboard URL "ftp://h" must be http(s):// or ws(s)://\n');
  }
  const dir = await scratch(t);
  const config = join(dir, 'supervisor.toml');
  await writeFile(config, `[ws_connector]\nswitchboard_uri = ["ws://127.0.0.1:9", "not a url"]\n`);
  const { code, stderr } = await run(['--config', config, '--id', ID, '--store', tmpdir()], {
    TML_SUPERVISOR_TOKEN: 't',
  });
  t.is(code, 2);
  t.is(stderr, 'tml-supervisor: invalid switchboard URL "not a url"\n');
});
