// The interactive commands through the real CLIs, on a local host: `tml job console` (what the user
// types reaches the boot script's stdin), `tml job run --keep-alive` (mq -a), `tml job reserve`
// (mq -r) with its time limit, `run --supervisor` and `-d` (mq -s, -d), and the SSH endpoints a
// supervisor reports reaching `tml job ssh`.

import test from 'ava';
import { silentLogger } from '../../protocol/log.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobStatus } from '../../protocol/switchboard-api.js';
import { cliPath, runCli, type Service } from '../../scripts/child-processes.js';
import { ANY_EXIT_CODE, LocalCluster } from '../../scripts/local-cluster.js';
import type { HostBackend } from '../../supervisor/hosts/host.js';
import { LocalHostBackend } from '../../supervisor/hosts/local.js';
import { findPuppet } from '../../supervisor/hosts/puppet-command.js';
import { startSupervisor, type Supervisor } from '../../supervisor/supervisor.js';

// A host whose console is a line-reading loop: it answers each line typed on its stdin.
const BOOT_SCRIPT = `#!/bin/sh
echo "console ready"
while read -r line; do
  echo "got: $line"
  if [ "$line" = finish ]; then exec tml-puppet job finish --status success --terminate; fi
done
echo "end of input"
sleep 300
`;

let cluster: LocalCluster;
let supervisor: Service;
let image = '';
let env: NodeJS.ProcessEnv = {};
let sshSupervisor: Supervisor | null = null;

function cleanEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TML_')) e[k] = v;
  return e;
}

async function switchboardCli(args: string[]): Promise<string> {
  return (await runCli(cliPath('switchboard/cli.js'), [...args, '--db', cluster.db], { env: cleanEnv() })).stdout;
}

test.before(async (t) => {
  t.timeout(60_000);
  cluster = await LocalCluster.create({ prefix: 'tml-e2e-interactive-' });
  await writeFile(join(cluster.dir, 'boot.sh'), BOOT_SCRIPT);
  await writeFile(
    join(cluster.dir, 'image.toml'),
    'label = "line reader"\n[attrs]\n"org.tockos.treadmill.image.local_v0.entrypoint" = "boot"\n[blobs.boot]\npath = "boot.sh"\n',
  );
  image = await cluster.buildImage(join(cluster.dir, 'image.toml'));
  await cluster.prepareDatabase('ci', 'local-1', 'board:local');
  await cluster.startSwitchboard();
  supervisor = cluster.startSupervisor();
  const token = (await switchboardCli(['token', 'create', '--user', 'ci'])).trim();
  env = {
    ...cleanEnv(),
    TML_API_TOKEN: token,
    TML_SWITCHBOARD_URL: cluster.url,
    XDG_DATA_HOME: join(cluster.dir, 'xdg-data'),
    XDG_CONFIG_HOME: join(cluster.dir, 'xdg-config'),
  };
});

/** Every `tml` session a test started: killed at the end, so a failed test cannot leave one waiting. */
const sessions = new Set<ChildProcessWithoutNullStreams>();

test.after.always(async () => {
  for (const child of sessions) child.kill('SIGKILL');
  await sshSupervisor?.close();
  await cluster?.close();
});

async function tml(args: string[], okCodes: number[] = [0]) {
  return runCli(cliPath('tml/cli.js'), args, { env, okCodes });
}

async function status(id: string): Promise<JobStatus> {
  return JSON.parse((await tml(['job', 'status', id, '--json'])).stdout) as JobStatus;
}

async function enqueue(tag = 'board:local'): Promise<string> {
  const { stdout } = await tml(['job', 'enqueue', image, '--tag-config', tag]);
  return (JSON.parse(stdout) as { job_id: string }).job_id;
}

async function until<T>(what: string, probe: () => Promise<T | null> | T | null, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (!supervisor.running) throw new Error(`the supervisor exited: ${supervisor.stderr.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function untilConsole(id: string, text: string): Promise<void> {
  await until(`"${text}" in the console of ${id}`, async () =>
    (await tml(['job', 'logs', id])).stdout.includes(text) ? true : null,
  );
}

/** `tml ARGS` with a pipe for stdin, its output collected as it comes. */
function interactive(args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [cliPath('tml/cli.js'), ...args], {
    env,
    stdio: 'pipe',
  });
  sessions.add(child);
  child.once('close', () => sessions.delete(child));
  const io = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (s: string) => (io.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (io.stderr += s));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const sees = (where: 'stdout' | 'stderr', text: string) =>
    until(`"${text}" on tml's ${where} (${JSON.stringify(io)})`, () => (io[where].includes(text) ? true : null));
  return { child, io, exited, sees };
}

test.serial('tml job console: typed lines reach the host, Ctrl-] detaches and the job goes on', async (t) => {
  const id = await enqueue();
  await untilConsole(id, 'console ready');
  const session = interactive(['job', 'console', id]);
  await session.sees('stderr', 'attached to the console');
  session.child.stdin.write('hello there\n');
  await session.sees('stdout', 'got: hello there');
  session.child.stdin.write('\x1d');
  t.is(await session.exited, 0, session.io.stderr);
  t.regex(session.io.stderr, /detached; job .* goes on/);
  t.false(session.io.stdout.includes('console ready'), 'without --all only new output is shown');
  t.is((await status(id)).state.type, 'ready');
  await tml(['job', 'cancel', id]);
});

test.serial('tml job console exits with the outcome when the job ends while attached', async (t) => {
  const id = await enqueue();
  await untilConsole(id, 'console ready');
  const session = interactive(['job', 'console', id, '--all']);
  await session.sees('stdout', 'console ready');
  session.child.stdin.write('finish\n');
  t.is(await session.exited, 0, session.io.stderr);
  t.regex(session.io.stderr, /WorkloadFinishedSuccess/);
  t.is((await status(id)).state.result?.exit_status, 'workload_finished_success');
});

test.serial('only the owner or an admin may send console input, in chunks of at most 4096 bytes', async (t) => {
  const id = await enqueue();
  await untilConsole(id, 'console ready');
  await switchboardCli(['user', 'add', 'mallory']);
  const other = (await switchboardCli(['token', 'create', '--user', 'mallory'])).trim();
  const post = async (token: string, data: Buffer) => {
    const res = await fetch(`${cluster.url}/api/v1/jobs/${id}/console`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ data_base64: data.toString('base64') }),
    });
    return { status: res.status, body: (await res.json()) as { type: string; bytes?: number } };
  };
  const denied = await post(other, Buffer.from('from mallory\n'));
  t.deepEqual([denied.status, denied.body.type], [404, 'invalid']);
  const big = await post(env.TML_API_TOKEN!, Buffer.alloc(4097, 0x61));
  t.deepEqual([big.status, big.body.type], [400, 'bad_request']);
  const ok = await post(env.TML_API_TOKEN!, Buffer.from('from the owner\n'));
  t.deepEqual([ok.status, ok.body], [200, { type: 'ok', bytes: 15 }]);
  await untilConsole(id, 'got: from the owner');
  t.false((await tml(['job', 'logs', id])).stdout.includes('mallory'));
  await tml(['job', 'cancel', id]);
  await tml(['job', 'wait', id], ANY_EXIT_CODE);
  const ended = await post(env.TML_API_TOKEN!, Buffer.from('too late\n'));
  t.deepEqual([ended.status, ended.body.type], [400, 'bad_request']);
});

test.serial(
  'tml job run --keep-alive: after the completion text the console is read-write until detached',
  async (t) => {
    const session = interactive([
      'job',
      'run',
      image,
      '--tag-config',
      'board:local',
      '--completion-text',
      'console ready',
      '--keep-alive',
    ]);
    await session.sees('stderr', 'the console is read-write now');
    session.child.stdin.write('still here\n');
    await session.sees('stdout', 'got: still here');
    session.child.stdin.write('\x1d');
    t.is(await session.exited, 0, 'the completion text decides the exit code');
    t.regex(session.io.stderr, /completion text found; canceled the job/);
    const id = /job (\S+) enqueued/.exec(session.io.stderr)![1]!;
    t.is((await tml(['job', 'wait', id], ANY_EXIT_CODE)).code, 4, 'the job ended canceled');
  },
);

test.serial('tml job run --keep-alive with the error text exits 1 after the session', async (t) => {
  const session = interactive(['job', 'run', image, '--tag-config', 'board:local', '-e', 'console ready', '-a']);
  await session.sees('stderr', 'error text found; the console is read-write now');
  session.child.stdin.end();
  t.is(await session.exited, 1, session.io.stderr);
});

test.serial('--keep-alive needs a completion or error text', async (t) => {
  const r = await tml(['job', 'run', image, '--keep-alive'], ANY_EXIT_CODE);
  t.is(r.code, 2);
  t.regex(r.stderr, /--keep-alive keeps the job after the completion or error text/);
});

test.serial('tml job reserve: prints the job and how to reach it once up, and ends at its time limit', async (t) => {
  const r = await tml(['job', 'reserve', image, '--tag-config', 'board:local', '--time', '4s']);
  const [id, ...howTo] = r.stdout.trim().split('\n');
  t.deepEqual(howTo, [`tml job console ${id}`, `tml job cancel ${id}`], 'a local host has no SSH endpoint');
  t.is((await status(id!)).state.type, 'ready');
  t.true(existsKey(env.XDG_DATA_HOME!), "tml's own SSH key was made for the session");
  t.is((await tml(['job', 'wait', id!, '--timeout', '30s'], ANY_EXIT_CODE)).code, 5, 'JobTimeout');
});

function existsKey(dataHome: string): boolean {
  try {
    return readFileSync(join(dataHome, 'treadmill-tb', 'ssh-key'), 'utf8').includes('OPENSSH PRIVATE KEY');
  } catch {
    return false;
  }
}

test.serial('tml job reserve needs --time', async (t) => {
  const r = await tml(['job', 'reserve', image], ANY_EXIT_CODE);
  t.is(r.code, 2);
  t.regex(r.stderr, /time/);
});

test.serial(
  'tml job run --supervisor picks a named system by name or id (mq -s); an unknown one is exit 7',
  async (t) => {
    const byName = await tml(['job', 'run', image, '-s', 'local-1', '--completion-text', 'console ready', '--json']);
    const ran = JSON.parse(byName.stdout) as { job_id: string; exit_code: number };
    t.is(ran.exit_code, 0);
    t.is((await status(ran.job_id)).supervisor_name, 'local-1');
    const byId = await tml(['job', 'run', image, '--supervisor', cluster.supervisorId, '--completion-text', 'ready']);
    t.regex(byId.stderr, /completion text found; canceled the job/);
    const unknown = await tml(['job', 'run', image, '-s', 'local-9', '--completion-text', 'x'], ANY_EXIT_CODE);
    t.is(unknown.code, 7);
    t.regex(unknown.stderr, /SupervisorMatchError/);
  },
);

test.serial(
  'tml job run -d: no completion text within the time-out is exit 13 and a canceled job (mq -d)',
  async (t) => {
    const r = await tml(
      ['job', 'run', image, '-s', 'local-1', '--completion-text', 'never printed', '-d', '3s', '--json'],
      ANY_EXIT_CODE,
    );
    t.is(r.code, 13, r.stderr);
    const { job_id } = JSON.parse(r.stdout) as { job_id: string };
    t.is((await tml(['job', 'wait', job_id], ANY_EXIT_CODE)).code, 4, 'JobCanceled');
  },
);

test.serial(
  "a running job's SSH endpoints, as its supervisor reports them, are in its status for tml job ssh",
  async (t) => {
    const added = JSON.parse(
      await switchboardCli(['supervisor', 'add', 'vm-like', '--tags', 'board:ssh', '--json']),
    ) as {
      id: string;
      token: string;
    };
    // A local host that says where its SSH server is, as the qemu host does for its port forward.
    const local = new LocalHostBackend({ puppet: findPuppet(), log: silentLogger });
    const host: HostBackend = {
      name: 'local-with-ssh',
      start: (spec, cb) =>
        local.start(spec, {
          ...cb,
          onReady: () => cb.onReady({ sshEndpoints: [{ host: '127.0.0.1', port: 40022 }], sshUser: 'tml' }),
        }),
    };
    sshSupervisor = await startSupervisor({
      switchboardUrl: cluster.url,
      supervisorId: added.id,
      token: added.token,
      storeDir: cluster.store,
      host,
      log: silentLogger,
    });
    const id = await enqueue('board:ssh');
    const ready = await until('the SSH endpoint in the job status', async () => {
      const s = await status(id);
      return s.state.ssh_endpoints?.length ? s : null;
    });
    t.like(ready.state, { type: 'ready', ssh_endpoints: [{ host: '127.0.0.1', port: 40022 }], ssh_user: 'tml' });
    const target = JSON.parse((await tml(['job', 'ssh', id, '--json'])).stdout) as Record<string, unknown>;
    t.like(target, { job_id: id, user: 'tml', host: '127.0.0.1', port: 40022 });

    const bin = join(cluster.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${cluster.dir}/ssh-args"\nexit 0\n`);
    chmodSync(join(bin, 'ssh'), 0o755);
    const saved = env.PATH;
    env = { ...env, PATH: `${bin}:${saved}` };
    try {
      await tml(['job', 'ssh', id, '--', 'id', '-un']);
    } finally {
      env = { ...env, PATH: saved };
    }
    const args = readFileSync(join(cluster.dir, 'ssh-args'), 'utf8').trim().split('\n');
    t.deepEqual(args.slice(-6), ['-p', '40022', '--', 'tml@127.0.0.1', 'id', '-un']);

    await tml(['job', 'cancel', id]);
    await tml(['job', 'wait', id], ANY_EXIT_CODE);
    t.is((await status(id)).state.ssh_endpoints, null, 'an ended job has no endpoint');
  },
);
