// Our `tml` against an upstream switchboard: a stand-in that answers as upstream's 2025 routes do
// (treadmill-rs 0.3.0 types, no extra keys; empty 401 bodies; "no such route" as plain text).

import test from 'ava';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EXIT_CODES } from '../../tml/outcome.js';
import { IMAGE_ID } from '../switchboard/harness.js';
import { tml, type TmlResult } from '../switchboard/process.js';

const JOB = '11111111-2222-4333-8444-555555555555';
const SUP = '99999999-2222-4333-8444-555555555555';
const TOKEN = randomBytes(128).toString('base64');
const AS_OF = '2025-10-31T12:00:00.123456Z';

const terminated = {
  type: 'ok',
  job_status: {
    state: {
      type: 'terminated',
      dispatched_to_supervisor: SUP,
      ssh_endpoints: [{ host: 'lab.example.org', port: 2201 }],
      ssh_user: 'tml',
      ssh_host_keys: null,
      result: {
        job_id: JOB,
        supervisor_id: SUP,
        exit_status: 'workload_finished_error',
        host_output: 'tests failed',
        terminated_at: AS_OF,
      },
    },
    as_of: AS_OF,
  },
};

type Route = (req: IncomingMessage, body: string, res: ServerResponse) => void;

const json = (res: ServerResponse, status: number, value: unknown) => {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(value));
};

const ROUTES: Record<string, Route> = {
  'POST /api/v1/jobs/new': (_req, body, res) => {
    const tags = (JSON.parse(body) as { tag_config: string }).tag_config;
    if (tags === 'board:none') json(res, 404, { type: 'supervisor_match_error' });
    else json(res, 200, { type: 'ok', job_id: JOB });
  },
  [`GET /api/v1/jobs/${JOB}/status`]: (_req, _body, res) => json(res, 200, terminated),
  [`DELETE /api/v1/jobs/${JOB}`]: (_req, _body, res) => json(res, 200, { type: 'ok' }),
  'GET /api/v1/jobs': (_req, _body, res) => json(res, 200, { type: 'ok', jobs: { [JOB]: terminated.job_status } }),
  'GET /api/v1/supervisors': (_req, _body, res) =>
    json(res, 200, {
      type: 'ok',
      supervisors: { [SUP]: { status: 'busy', job_id: JOB, job_state: { state: 'ready' } } },
    }),
  [`GET /api/v1/supervisors/${SUP}/status`]: (_req, _body, res) =>
    json(res, 200, { type: 'ok', status: { status: 'idle' } }),
};

async function againstUpstream(args: string[], token = TOKEN): Promise<TmlResult> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      // Upstream's extractor: a token it cannot find is 401 with an empty body.
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.statusCode = 401;
        return res.end();
      }
      const route = ROUTES[`${req.method} ${req.url!.split('?')[0]}`];
      if (route) return route(req, body, res);
      res.statusCode = 404;
      res.end('no such route');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await tml(args, { TML_SWITCHBOARD_URL: `http://127.0.0.1:${port}`, TML_API_TOKEN: token });
  } finally {
    server.close();
  }
}

test('tml job enqueue prints the job id from an upstream answer', async (t) => {
  const r = await againstUpstream(['job', 'enqueue', IMAGE_ID, '--tag-config', 'board:x']);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, `{"job_id": "${JOB}"}\n`);
});

test('tml job enqueue exits 7 on an upstream supervisor_match_error without a message', async (t) => {
  const r = await againstUpstream(['job', 'enqueue', IMAGE_ID, '--tag-config', 'board:none']);
  t.is(r.status, EXIT_CODES.supervisor_match_error);
  t.is(r.stderr, 'tml: SupervisorMatchError: supervisor_match_error\n');
});

test('tml job status shows what an upstream answer has, SSH endpoint included', async (t) => {
  const r = await againstUpstream(['job', 'status', JOB]);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^state\s+terminated$/m);
  t.regex(r.stdout, /^exit status\s+WorkloadFinishedError: tests failed$/m);
  t.regex(r.stdout, new RegExp(`^supervisor\\s+\\? \\(${SUP}\\)$`, 'm'));
  t.regex(r.stdout, /^ssh\s+tml@lab\.example\.org:2201$/m);
});

test('tml job wait takes the outcome from the result', async (t) => {
  const r = await againstUpstream(['job', 'wait', JOB]);
  t.is(r.status, EXIT_CODES.workload_finished_error);
  t.regex(r.stderr, new RegExp(`job ${JOB}: WorkloadFinishedError: tests failed`));
});

test('tml job run without a console log route waits for the outcome', async (t) => {
  const r = await againstUpstream(['job', 'run', IMAGE_ID]);
  t.is(r.status, EXIT_CODES.workload_finished_error, r.stderr);
  t.regex(r.stderr, /serves no console log; waiting for the job to end/);
});

test('tml job list, cancel and supervisor list and status read upstream answers', async (t) => {
  const list = await againstUpstream(['job', 'list']);
  t.is(list.status, 0, list.stderr);
  t.regex(list.stdout, new RegExp(`^${JOB}  ${AS_OF} .*terminated WorkloadFinishedError`, 'm'));
  const cancel = await againstUpstream(['job', 'cancel', JOB]);
  t.is(cancel.status, 0, cancel.stderr);
  t.is(cancel.stderr, `job ${JOB}: cancel requested\n`);
  const sups = await againstUpstream(['supervisor', 'list']);
  t.regex(sups.stdout, new RegExp(`^${SUP} +- +busy +${JOB} +- +- +-$`, 'm'));
  const one = await againstUpstream(['supervisor', 'status', SUP]);
  t.is(one.stdout, `supervisor   ${SUP}\nstatus       idle\n`);
});

test("upstream's empty 401 and plain-text 404 become one clear line each", async (t) => {
  const unauth = await againstUpstream(['job', 'list'], randomBytes(128).toString('base64'));
  t.is(unauth.status, 1);
  t.is(unauth.stderr, 'tml: not authorized (check TML_API_TOKEN or run tml login): HTTP 401\n');
  const events = await againstUpstream(['job', 'events', JOB]);
  t.is(events.status, 1);
  t.regex(
    events.stderr,
    /^tml: the switchboard at http:\/\/127\.0\.0\.1:\d+ serves no job events \(upstream's has none\)\n$/,
  );
});
