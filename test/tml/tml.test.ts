import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { EXIT_CODES } from '../../tml/outcome.js';
import { FakeSupervisor, IMAGE_ID, jobRequest, startHarness, type Harness } from '../switchboard/harness.js';
import { tml, type TmlResult } from '../switchboard/process.js';

interface Ctx {
  h: Harness;
  fake: FakeSupervisor;
  env: Record<string, string>;
  run(
    args: string[],
    opts?: { token?: string; onSpawn?: (c: ChildProcess) => void; input?: string },
  ): Promise<TmlResult>;
  enqueue(tags?: string): Promise<string>;
}

async function withServer(fn: (c: Ctx) => Promise<void>, opts = {}): Promise<void> {
  const h = await startHarness(opts);
  const sup = await h.addSupervisor('rpi-1', 'board:x');
  const fake = await FakeSupervisor.connect(h.url, sup.id, sup.token);
  const env = { TML_SWITCHBOARD_URL: h.url, TML_API_TOKEN: h.tokens.alice };
  try {
    await fn({
      h,
      fake,
      env,
      run: (args, o = {}) =>
        tml(args, { ...env, ...(o.token ? { TML_API_TOKEN: o.token } : {}) }, { onSpawn: o.onSpawn, input: o.input }),
      enqueue: async (tags = 'board:x') =>
        (await h.api(h.tokens.alice, 'POST', '/jobs/new', jobRequest({ tag_config: tags }))).json.job_id,
    });
  } finally {
    await fake.close();
    await h.close();
  }
}

const oneLine = (s: string) => s.trim().split('\n').length === 1;

/** A token of the right form that no switchboard issued. */
const FOREIGN_TOKEN = randomBytes(128).toString('base64');

test('job enqueue prints {"job_id": ...} and sends tags, parameters, keys and timeout', (t) =>
  withServer(async (c) => {
    const r = await c.run([
      'job',
      'enqueue',
      IMAGE_ID,
      '--tag-config',
      'board:x',
      '--parameters',
      '{"jit": {"value": "s3cr3t", "secret": true}, "mode": "fast"}',
      '--ssh-key',
      'ssh-ed25519 AAAAC3 me@host',
      '--timeout',
      '5m',
    ]);
    t.is(r.status, 0, r.stderr);
    const m = /^\{"job_id": "([0-9a-f-]{36})"\}\n$/.exec(r.stdout);
    t.truthy(m, r.stdout);
    const start = await c.fake.next('start_job', (s) => s.message.job_id === m![1]);
    t.deepEqual(start.message.parameters, {
      jit: { value: 's3cr3t', secret: true },
      mode: { value: 'fast', secret: false },
    });
    t.deepEqual(start.message.ssh_keys, ['ssh-ed25519 AAAAC3 me@host']);
    t.is((await c.h.sb.jobs.request((await c.h.sb.jobs.get(m![1]!))!)).override_timeout, 300);
  }));

test('job enqueue --parameters-file reads the parameters from a file', (t) =>
  withServer(async (c) => {
    const file = join(c.h.dir, 'params.json');
    writeFileSync(file, '{"gh-actions-runner-encoded-jit-config": {"value": "jit-s3cr3t", "secret": true}}');
    const r = await c.run(['job', 'enqueue', IMAGE_ID, '--tag-config', 'board:x', '--parameters-file', file]);
    t.is(r.status, 0, r.stderr);
    const id = (JSON.parse(r.stdout) as { job_id: string }).job_id;
    const start = await c.fake.next('start_job', (s) => s.message.job_id === id);
    t.deepEqual(start.message.parameters, {
      'gh-actions-runner-encoded-jit-config': { value: 'jit-s3cr3t', secret: true },
    });
  }));

test('job enqueue --parameters-file - reads them from stdin and merges --parameters', (t) =>
  withServer(async (c) => {
    const r = await c.run(
      [
        'job',
        'enqueue',
        IMAGE_ID,
        '--tag-config',
        'board:x',
        '--parameters-file',
        '-',
        '--parameters',
        '{"mode": "fast"}',
      ],
      { input: '{"token": {"value": "from-stdin", "secret": true}}\n' },
    );
    t.is(r.status, 0, r.stderr);
    const id = (JSON.parse(r.stdout) as { job_id: string }).job_id;
    const start = await c.fake.next('start_job', (s) => s.message.job_id === id);
    t.deepEqual(start.message.parameters, {
      token: { value: 'from-stdin', secret: true },
      mode: { value: 'fast', secret: false },
    });
  }));

test('a name in both --parameters and --parameters-file is a usage error', (t) =>
  withServer(async (c) => {
    const r = await c.run(['job', 'enqueue', IMAGE_ID, '--parameters-file', '-', '--parameters', '{"a": "b"}'], {
      input: '{"a": {"value": "c", "secret": true}}',
    });
    t.is(r.status, EXIT_CODES.usage);
    t.regex(r.stderr, /^tml: parameter "a" is given by both --parameters and --parameters-file\n$/);
  }));

test('a --parameters-file that is not JSON is refused without quoting it', (t) =>
  withServer(async (c) => {
    const r = await c.run(['job', 'enqueue', IMAGE_ID, '--parameters-file', '-'], { input: 'hunter2-not-json' });
    t.is(r.status, EXIT_CODES.usage);
    t.regex(r.stderr, /^tml: --parameters-file: invalid JSON at line 1, column 1: expected a value/);
    t.false(r.stderr.includes('hunter2'));
    t.is((await c.h.sb.db.jobPage({ limit: 10 })).length, 0);
  }));

test('job enqueue sends --timeout as a duration string and --restart-count', (t) =>
  withServer(async (c) => {
    const r = await c.run([
      'job',
      'enqueue',
      IMAGE_ID,
      '--tag-config',
      'board:x',
      '--timeout',
      '90',
      '--restart-count',
      '2',
    ]);
    t.is(r.status, 0, r.stderr);
    const id = (JSON.parse(r.stdout) as { job_id: string }).job_id;
    const req = await c.h.sb.jobs.request((await c.h.sb.jobs.get(id))!);
    t.is(req.override_timeout, 90);
    t.deepEqual(req.restart_policy, { remaining_restart_count: 2 });
  }));

test('job enqueue and job run exit 7 when no supervisor could ever run the job; nothing is enqueued', (t) =>
  withServer(async (c) => {
    for (const cmd of ['enqueue', 'run']) {
      const r = await c.run(['job', cmd, IMAGE_ID, '--tag-config', 'board:none']);
      t.is(r.status, EXIT_CODES.supervisor_match_error, cmd);
      t.regex(r.stderr, /^tml: SupervisorMatchError: no registered supervisor has all of the tags "board:none"\n$/);
      t.is(r.stdout, '');
    }
    t.is((await c.h.sb.db.jobPage({ limit: 10 })).length, 0);
  }));

const USAGE: Array<[string, string[], RegExp]> = [
  ['a malformed image id', ['job', 'enqueue', 'xyz'], /IMAGE_ID must be 64 lowercase hex digits/],
  [
    'malformed --parameters',
    ['job', 'enqueue', IMAGE_ID, '--parameters', '{nope'],
    /--parameters: invalid JSON at line 1, column 2: expected a property name in double quotes/,
  ],
  [
    'a parameter without value',
    ['job', 'enqueue', IMAGE_ID, '--parameters', '{"a": {"secret": true}}'],
    /--parameters.a.value must be a string/,
  ],
  ['a bad --timeout', ['job', 'enqueue', IMAGE_ID, '--timeout', 'forever'], /--timeout: invalid duration/],
  ['a --limit of 0', ['job', 'list', '--limit', '0'], /--limit must be a whole number from 1 to 10000/],
  ['a job id that is not a UUID', ['job', 'status', '42'], /job id must be a UUID/],
  [
    'a missing --parameters-file',
    ['job', 'enqueue', IMAGE_ID, '--parameters-file', '/nonexistent/p.json'],
    /--parameters-file \/nonexistent\/p.json: cannot read it \(ENOENT\)/,
  ],
  [
    'parameter names that give one file name',
    ['job', 'enqueue', IMAGE_ID, '--parameters', '{"api.key": "a", "apikey": "b"}'],
    /"api.key" and "apikey" both map to the file name "apikey"/,
  ],
  [
    'a negative --restart-count',
    ['job', 'enqueue', IMAGE_ID, '--restart-count', '-1'],
    /--restart-count must be a whole number/,
  ],
  ['an unknown job command', ['job', 'explode'], /unknown command "explode" for tml job; commands: enqueue, run/],
  ['an unknown option', ['job', 'list', '--frobnicate'], /^tml: unknown option --frobnicate for tml job list\n$/],
  ['a bad regex', ['job', 'run', IMAGE_ID, '--completion-text', '('], /--completion-text: invalid regular expression/],
  [
    'a flag without its value',
    ['job', 'list', '--limit'],
    /^tml: --limit needs a value \(see tml job list --help\)\n$/,
  ],
  [
    'a value not among the choices',
    ['supervisor', 'list', '--work', 'lazy'],
    /^tml: --work must be one of idle, busy, got "lazy"\n$/,
  ],
  [
    'a mistyped command',
    ['job', 'enquue', IMAGE_ID],
    /^tml: unknown command "enquue" for tml job \(did you mean enqueue\?\); commands: /,
  ],
  [
    'a mistyped flag',
    ['job', 'enqueue', IMAGE_ID, '--tag-confg', 'x'],
    /^tml: unknown option --tag-confg for tml job enqueue \(did you mean --tag-config\?\)\n$/,
  ],
  [
    'a parameter of the wrong type',
    ['job', 'enqueue', IMAGE_ID, '--parameters', '{"a": 1}'],
    /^tml: --parameters\.a must be a string or \{"value": "\.\.\.", "secret": true\|false\}, got a number\n$/,
  ],
  [
    'JSON with a trailing comma',
    ['job', 'enqueue', IMAGE_ID, '--parameters', '{"a": "b",}'],
    /^tml: --parameters: invalid JSON at line 1, column 11: a trailing comma before '\}'\n$/,
  ],
];

for (const [what, args, message] of USAGE) {
  test(`${what} is a usage error (exit 2, one line)`, (t) =>
    withServer(async (c) => {
      const r = await c.run(args);
      t.is(r.status, EXIT_CODES.usage);
      t.regex(r.stderr, message);
      t.true(oneLine(r.stderr), r.stderr);
      t.is((await c.h.sb.db.jobPage({ limit: 10 })).length, 0);
    }));
}

test('a missing token is a usage error', async (t) => {
  const r = await tml(['job', 'list'], { TML_SWITCHBOARD_URL: 'http://127.0.0.1:9', TML_API_TOKEN: '' });
  t.is(r.status, EXIT_CODES.usage);
  t.regex(r.stderr, /no API token: set TML_API_TOKEN/);
});

test('a token of the wrong length is a usage error, as upstream tml has it', async (t) => {
  const env = { TML_SWITCHBOARD_URL: 'http://127.0.0.1:9' };
  const short = await tml(['job', 'list'], { ...env, TML_API_TOKEN: randomBytes(32).toString('base64') });
  t.is(short.status, EXIT_CODES.usage);
  t.regex(short.stderr, /^tml: TML_API_TOKEN has invalid length \(32 bytes instead of 128 bytes\)\n$/);
  const garbled = await tml(['job', 'list'], { ...env, TML_API_TOKEN: 'bogus!' });
  t.regex(garbled.stderr, /^tml: TML_API_TOKEN is not standard base64\n$/);
});

test('an unreachable switchboard fails with one line', async (t) => {
  // A port that is held (so no other test can take it) but hangs up on every connection.
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const r = await tml(['job', 'list'], {
    TML_SWITCHBOARD_URL: `http://127.0.0.1:${port}`,
    TML_API_TOKEN: FOREIGN_TOKEN,
  });
  server.close();
  t.is(r.status, 1);
  t.regex(
    r.stderr,
    new RegExp(`^tml: cannot reach the switchboard at http://127\\.0\\.0\\.1:${port}: [a-z ]+ \\([A-Z_]+\\)\n$`),
  );
});

test('a switchboard on a port browsers block (6000, 6665, ...) is reachable', async (t) => {
  // fetch() refuses the Fetch standard's "bad ports"; tml must not inherit that.
  const server = createHttpServer((_req, res) =>
    res.setHeader('content-type', 'application/json').end('{"type":"ok","jobs":{}}'),
  );
  const port = await listenOnFirstFree(server, [6000, 6665, 6666, 6667, 6668, 6669, 10080, 5060]);
  try {
    const r = await tml(['job', 'list', '--json'], {
      TML_SWITCHBOARD_URL: `http://127.0.0.1:${port}`,
      TML_API_TOKEN: FOREIGN_TOKEN,
    });
    t.is(r.status, 0, r.stderr);
  } finally {
    server.close();
  }
});

async function listenOnFirstFree(server: HttpServer, ports: number[]): Promise<number> {
  for (const port of ports) {
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return port;
  }
  throw new Error(`none of the ports ${ports.join(', ')} is free`);
}

test('--switchboard overrides TML_SWITCHBOARD_URL', (t) =>
  withServer(async (c) => {
    const r = await tml(['--switchboard', c.h.url, 'job', 'list'], {
      TML_SWITCHBOARD_URL: 'http://127.0.0.1:9',
      TML_API_TOKEN: c.h.tokens.alice,
    });
    t.is(r.status, 0, r.stderr);
  }));

test('a wrong token fails with one line: not authorized', (t) =>
  withServer(async (c) => {
    const r = await c.run(['job', 'list'], { token: FOREIGN_TOKEN });
    t.is(r.status, 1);
    t.regex(r.stderr, /^tml: not authorized \(check TML_API_TOKEN or run tml login\): invalid API token\n$/);
  }));

test('an expired token fails with one line', (t) =>
  withServer(async (c) => {
    const r = await c.run(['job', 'list'], { token: c.h.tokens.expired });
    t.is(r.status, 1);
    t.regex(r.stderr, /API token has expired/);
  }));

test("another user's job and an unknown one are both not found", (t) =>
  withServer(async (c) => {
    const id = await c.enqueue();
    const theirs = await c.run(['job', 'cancel', id], { token: c.h.tokens.bob });
    t.is(theirs.status, 1);
    t.regex(theirs.stderr, new RegExp(`^tml: not found: no job ${id} visible to you\n$`));
    const missing = await c.run(['job', 'status', '00000000-0000-4000-8000-000000000000']);
    t.regex(missing.stderr, /^tml: not found: no job 00000000-0000-4000-8000-000000000000 visible to you\n$/);
    t.is(missing.status, 1);
    t.is((await c.h.sb.jobs.get(id))!.exit_status, null);
  }));

test('job status shows state and masks secrets; --json gives the API object', (t) =>
  withServer(async (c) => {
    const { json } = await c.h.api(
      c.h.tokens.alice,
      'POST',
      '/jobs/new',
      jobRequest({ tag_config: 'board:x', parameters: { k: { value: 'topsecret', secret: true } } }),
    );
    const id = json.job_id as string;
    c.fake.transition(id, { state: 'ready' }, 'flashing board');
    await c.h.waitJob(id, (j) => j.state === 'ready');
    const human = await c.run(['job', 'status', id]);
    t.is(human.status, 0);
    t.regex(human.stdout, /^state\s+ready: flashing board$/m);
    t.regex(human.stdout, /^parameters\s+k=<secret>$/m);
    t.false(human.stdout.includes('topsecret'));
    const js = JSON.parse((await c.run(['job', 'status', id, '--json'])).stdout);
    t.like(js, {
      job_id: id,
      state: { type: 'ready', dispatched_to_supervisor: (await c.h.sb.jobs.get(id))!.supervisor_id, result: null },
      status_message: 'flashing board',
      parameters: { k: { secret: true } },
    });
  }));

test("job list shows the caller's jobs", (t) =>
  withServer(async (c) => {
    const id = await c.enqueue();
    const r = await c.run(['job', 'list']);
    t.is(r.status, 0);
    t.regex(r.stdout, new RegExp(`^${id} .* alice `, 'm'));
    t.is((await c.run(['job', 'list'], { token: c.h.tokens.bob })).stdout, '');
  }));

test('job cancel cancels the job', (t) =>
  withServer(async (c) => {
    const id = await c.enqueue();
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    const r = await c.run(['job', 'cancel', id]);
    t.is(r.status, 0, r.stderr);
    await c.fake.next('stop_job', (m) => m.message.job_id === id);
    t.is((await c.h.sb.jobs.get(id))!.exit_status, 'job_canceled');
  }));

test('job logs prints the console; --follow streams it until the job ends', (t) =>
  withServer(async (c) => {
    const id = await c.enqueue();
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    c.fake.console(id, 'line one\n');
    await c.h.waitJob(id, (j) => j.log_end > 0);
    t.is((await c.run(['job', 'logs', id])).stdout, 'line one\n');
    const follow = c.run(['job', 'logs', id, '--follow']);
    c.fake.console(id, 'line two\n');
    c.fake.finish(id);
    const r = await follow;
    t.is(r.status, 0);
    t.is(r.stdout, 'line one\nline two\n');
  }));

test('job events lists each change with a timestamp', (t) =>
  withServer(async (c) => {
    const id = await c.enqueue();
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    c.fake.finish(id);
    await c.h.waitJob(id, (j) => j.state === 'terminated');
    const r = await c.run(['job', 'events', id]);
    const lines = r.stdout.trim().split('\n');
    t.regex(lines[0]!, /^\d{4}-\d\d-\d\dT\S+Z {2}switchboard queued$/);
    t.regex(r.stdout, /supervisor {2}exit status WorkloadFinishedSuccess/);
    t.regex(lines.at(-1)!, /supervisor {2}terminated$/);
    t.is(JSON.parse((await c.run(['job', 'events', id, '--json'])).stdout).length, lines.length);
  }));

const WAIT_OUTCOMES: Array<[string, number, (c: Ctx, id: string) => void | Promise<void>]> = [
  ['WorkloadFinishedSuccess', 0, (c, id) => c.fake.finish(id, 'success')],
  ['WorkloadFinishedError', 1, (c, id) => c.fake.finish(id, 'error')],
  ['WorkloadFinishedUnknown', 3, (c, id) => c.fake.finish(id, 'unknown')],
  [
    'JobCanceled',
    4,
    async (c, id) => {
      await c.h.api(c.h.tokens.alice, 'DELETE', `/jobs/${id}`);
      c.fake.transition(id, { state: 'terminated' });
    },
  ],
  [
    'SupervisorHostStartError',
    8,
    (c, id) => {
      c.fake.event(id, { type: 'error', error: { error_kind: 'ImageNotFound', description: 'no image' } });
      c.fake.transition(id, { state: 'terminated' });
    },
  ],
  [
    'InternalSupervisorError',
    9,
    (c, id) => {
      c.fake.event(id, { type: 'error', error: { error_kind: 'InternalError', description: 'disk full' } });
      c.fake.transition(id, { state: 'terminated' });
    },
  ],
];

for (const [name, code, end] of WAIT_OUTCOMES) {
  test(`job wait exits ${code} for ${name}`, (t) =>
    withServer(async (c) => {
      const id = await c.enqueue();
      await c.fake.next('start_job', (m) => m.message.job_id === id);
      const wait = c.run(['job', 'wait', id]);
      await end(c, id);
      const r = await wait;
      t.is(r.status, code, r.stderr);
      t.regex(r.stderr, new RegExp(`job ${id}: ${name}`));
    }));
}

test('job wait exits 6 for QueueTimeout', (t) =>
  withServer(
    async (c) => {
      await c.fake.close();
      const id = await c.enqueue();
      t.is((await c.run(['job', 'wait', id])).status, 6);
    },
    { queueTimeoutMs: 200 },
  ));

test('job wait exits 5 for JobTimeout', (t) =>
  withServer(
    async (c) => {
      const id = await c.enqueue();
      await c.fake.next('stop_job', (m) => m.message.job_id === id);
      c.fake.transition(id, { state: 'terminated' });
      const r = await c.run(['job', 'wait', id]);
      t.is(r.status, 5, r.stderr);
    },
    { jobTimeoutMs: 200 },
  ));

test('job wait exits 10 for SupervisorDroppedJob', (t) =>
  withServer(
    async (c) => {
      const id = await c.enqueue();
      await c.fake.next('start_job', (m) => m.message.job_id === id);
      await c.fake.close();
      t.is((await c.run(['job', 'wait', id])).status, 10);
    },
    { gracePeriodMs: 200 },
  ));

test('job wait --timeout exits 11 while the job still runs', (t) =>
  withServer(async (c) => {
    const id = await c.enqueue();
    const r = await c.run(['job', 'wait', id, '--timeout', '300ms']);
    t.is(r.status, 11);
    t.regex(r.stderr, /still running after 300ms/);
  }));

function runJob(
  c: Ctx,
  args: string[],
  host: (id: string) => void,
  onSpawn?: (child: ChildProcess) => void,
): Promise<TmlResult> {
  const p = c.run(['job', 'run', IMAGE_ID, '--tag-config', 'board:x', ...args], { onSpawn });
  void c.fake.next('start_job').then((m) => host(m.message.job_id));
  return p;
}

test('job run streams the console to stdout and the log file and exits 0 on success', (t) =>
  withServer(async (c) => {
    const logFile = join(c.h.dir, 'console.log');
    const r = await runJob(c, ['--log', logFile], (id) => {
      c.fake.transition(id, { state: 'ready' });
      c.fake.console(id, 'booting...\n');
      c.fake.console(id, 'tests passed\n');
      c.fake.declare(id, 'success');
      c.fake.transition(id, { state: 'terminated' });
    });
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, 'booting...\ntests passed\n');
    t.is(readFileSync(logFile, 'utf8'), 'booting...\ntests passed\n');
    t.regex(r.stderr, /WorkloadFinishedSuccess/);
  }));

test('job run exits 1 when the workload reports an error', (t) =>
  withServer(async (c) => {
    const r = await runJob(c, [], (id) => c.fake.finish(id, 'error'));
    t.is(r.status, 1);
  }));

test('job run stops with success at the completion text and cancels the job', (t) =>
  withServer(async (c) => {
    let jobId = '';
    const r = await runJob(c, ['--completion-text', 'All \\d+ tests pass', '--error-text', 'FAIL'], (id) => {
      jobId = id;
      c.fake.transition(id, { state: 'ready' });
      c.fake.console(id, 'All 12 tes');
      c.fake.console(id, 'ts passed\n');
    });
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr, /completion text found/);
    await c.fake.next('stop_job', (m) => m.message.job_id === jobId);
    t.is((await c.h.sb.jobs.get(jobId))!.exit_status, 'job_canceled');
  }));

test('job run stops with failure at the error text', (t) =>
  withServer(async (c) => {
    const r = await runJob(c, ['--completion-text', 'passed', '--error-text', 'panic'], (id) => {
      c.fake.transition(id, { state: 'ready' });
      c.fake.console(id, 'kernel panic\n');
    });
    t.is(r.status, 1);
    t.regex(r.stderr, /error text found/);
  }));

test('job run cancels the job on Ctrl-C and exits 130', (t) =>
  withServer(async (c) => {
    let jobId = '';
    const r = await runJob(
      c,
      [],
      (id) => {
        jobId = id;
        c.fake.transition(id, { state: 'ready' });
        c.fake.console(id, 'waiting forever\n');
      },
      (child) => child.stdout!.on('data', () => child.kill('SIGINT')),
    );
    t.is(r.status, 130);
    await c.fake.next('stop_job', (m) => m.message.job_id === jobId);
    t.is((await c.h.sb.jobs.get(jobId))!.exit_status, 'job_canceled');
  }));

test('supervisor list shows a header row, then names, status and tags', (t) =>
  withServer(async (c) => {
    const r = await c.run(['supervisor', 'list']);
    t.is(r.status, 0);
    t.regex(r.stdout, /^SUPERVISOR +NAME +STATUS +JOB +HELD BY +SINCE +TAGS\n/);
    t.regex(r.stdout, /^[0-9a-f-]{36} {2}rpi-1\s+idle\s+-\s+-\s+-\s+board:x$/m);
    const list = JSON.parse((await c.run(['supervisor', 'list', '--json'])).stdout) as Record<string, unknown>;
    t.like(Object.values(list)[0], { name: 'rpi-1', status: 'idle' });
  }));

test('supervisor list filters; supervisor status shows one and its job', (t) =>
  withServer(async (c) => {
    const id = await c.enqueue();
    await c.fake.next('start_job', (m) => m.message.job_id === id);
    t.is((await c.run(['supervisor', 'list', '--work', 'idle'])).stdout, '');
    t.regex(
      (await c.run(['supervisor', 'list', '--work', 'busy', '--conn', 'connected'])).stdout,
      new RegExp(`rpi-1\\s+busy\\s+${id}\\s`),
    );
    const [supId] = Object.keys(JSON.parse((await c.run(['supervisor', 'list', '--json'])).stdout) as object);
    const r = await c.run(['supervisor', 'status', supId!]);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^status\s+busy$/m);
    t.regex(r.stdout, new RegExp(`^job\\s+${id} \\(initializing, starting\\)$`, 'm'));
  }));

test('job run with an unwritable --log file is a usage error and enqueues nothing', (t) =>
  withServer(async (c) => {
    const r = await c.run(['job', 'run', IMAGE_ID, '--log', join(c.h.dir, 'missing-dir', 'x.log')]);
    t.is(r.status, EXIT_CODES.usage);
    t.regex(r.stderr, /--log .*ENOENT/);
    t.is((await c.h.sb.db.jobPage({ limit: 10 })).length, 0);
  }));
