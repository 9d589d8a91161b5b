// Switchboard benchmark: jobs through the whole lifecycle against 4 fake supervisors that hold
// real WebSocket connections to real `tml-switchboard serve` processes on loopback, on three
// setups side by side, each on a fresh database:
//   SQLite:               one switchboard on a SQLite file (WAL)
//   PostgreSQL, 1 replica: one switchboard on a PostgreSQL database
//   PostgreSQL, 2 replicas: two switchboards on one PostgreSQL database, the supervisors and the
//                         clients split between them
// Each setup runs three phases:
//   cold burst: the first 1000 jobs after the switchboards start, enqueued as the burst is ->
//           jobs/s and CPU per job while V8 still compiles the hot paths; then the rest of the
//           warm-up (BENCH_WARMUP jobs in all, in bursts of 1000), unreported
//   burst:  1000 jobs enqueued by 16 concurrent clients -> jobs/s, enqueue request p50/p99,
//           enqueue->ready p50/p99 (queueing included)
//   paced:  1000 jobs offered at the setup's target rate -> enqueue request p50/p99, enqueue->ready
// Targets: SQLite (issue 4) >= 200 jobs/s, paced p99 enqueue <= 20 ms at 200 jobs/s; two replicas
// on PostgreSQL (issue 11) >= 300 jobs/s, paced p99 enqueue <= 50 ms at 300 jobs/s.
// PostgreSQL: the server TML_TEST_POSTGRES_URL names, else one scripts/test-postgres starts (and
// stops); without either the PostgreSQL columns say so and SQLite still runs. Every phase has a
// deadline (BENCH_DEADLINE seconds, default 60): a setup whose jobs stall reports how many ended.
// The burst's CPU time per job (the switchboards', the database backends' and the bench's own, from
// /proc) gives the most jobs/s this machine could reach with that work: the limit beside a target.
// BENCH_ONLY=TEXT runs only the setups whose names contain TEXT (e.g. "2 replicas");
// BENCH_PROFILE_DIR=DIR has every switchboard write a CPU profile there (node --cpu-prof).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Agent, request } from 'undici';
import { WebSocket } from 'ws';
import { API_PREFIX, parseJobListAnswer } from '../protocol/switchboard-api.js';
import type { JobRequestBody } from '../protocol/job.js';
import { WEBSOCKET_SUBPROTOCOL, parseToSupervisor, type ToSwitchboard } from '../protocol/switchboard-ws.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
/**
 * Jobs each setup runs before the measured phases (BENCH_WARMUP), in bursts of at most 1000 (what
 * one user may queue): a switchboard that has served for a while has compiled its hot paths, where
 * one just started spends seconds of CPU in V8's optimizing compiler, and each replica its own.
 * The first burst is reported beside the rest as the cold burst.
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? JOBS);
/** The cold burst's jobs: those of the warm-up's first burst (at most what one user may queue). */
const COLD_BURST = Math.min(WARMUP, 1000);
const SUPERVISORS = 4;
const CLIENTS = 16;
const DEADLINE_MS = Number(process.env.BENCH_DEADLINE ?? 60) * 1000;
const CLI = fileURLToPath(new URL('../switchboard/cli.js', import.meta.url));
const TEST_POSTGRES = fileURLToPath(new URL('../../scripts/test-postgres', import.meta.url));
const IMAGE_ID = 'cd'.repeat(32);
/** Where each switchboard writes a V8 CPU profile when it exits (BENCH_PROFILE_DIR), if anywhere. */
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;

function admin(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tml-switchboard ${args[0]} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** A supervisor whose host reaches ready, succeeds and terminates at once. */
class FastSupervisor {
  readonly readyAt = new Map<string, number>();
  onTerminated: ((jobId: string) => void) | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = parseToSupervisor(data.toString());
      if (msg.type === 'status_request') {
        this.send({
          type: 'status_response',
          message: { response_to_request_id: msg.message.request_id, message: { type: 'idle' } },
        });
      } else if (msg.type === 'start_job') {
        const id = msg.message.job_id;
        const ev = (event: Extract<ToSwitchboard, { type: 'supervisor_event' }>['message']['event']) =>
          this.send({ type: 'supervisor_event', message: { type: 'job_event', job_id: id, event } });
        ev({ type: 'state_transition', new_state: { state: 'initializing', stage: 'starting' }, status_message: null });
        ev({ type: 'state_transition', new_state: { state: 'initializing', stage: 'booting' }, status_message: null });
        this.readyAt.set(id, performance.now());
        ev({ type: 'state_transition', new_state: { state: 'ready' }, status_message: null });
        ev({ type: 'console_log', console_bytes: [...Buffer.from('test passed\n')] });
        ev({ type: 'declare_exit_status', user_exit_status: 'success', host_output: null });
        ev({ type: 'state_transition', new_state: { state: 'terminating' }, status_message: null });
        ev({ type: 'state_transition', new_state: { state: 'terminated' }, status_message: null });
        this.onTerminated?.(id);
      }
    });
  }

  static connect(url: string, id: string, token: string): Promise<FastSupervisor> {
    const ws = new WebSocket(
      `${url.replace(/^http/, 'ws')}${API_PREFIX}/supervisors/${id}/connect`,
      WEBSOCKET_SUBPROTOCOL,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new FastSupervisor(ws)));
      ws.once('error', reject);
    });
  }

  private send(msg: ToSwitchboard): void {
    this.ws.send(JSON.stringify(msg));
  }

  close(): void {
    this.ws.close();
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const fmt = (ms: number) => ms.toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Enqueued {
  id: string;
  start: number;
  latency: number;
}

/** CPU milliseconds per job of each party in a phase; postgres is null for SQLite. */
interface CpuPerJob {
  switchboards: number;
  postgres: number | null;
  bench: number;
}

/** A phase's figures, or how far it got before its deadline. */
type Phase = { seconds: number; enqueue: number[]; ready: number[]; cpu?: CpuPerJob } | { unfinished: string };

/** CPU milliseconds (user + system) process `pid` has used, from /proc; 0 for one that is gone. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** The server processes of the PostgreSQL database `db` (its backends on this machine), but ours. */
async function backendPids(db: string): Promise<number[]> {
  const c = new pg.Client({ connectionString: db });
  await c.connect();
  try {
    const { rows } = await c.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    return rows.map((r) => r.pid);
  } finally {
    await c.end();
  }
}

/** CPU used by the switchboards, the database's backends and the bench, from now until `stop()`. */
async function cpuMeter(db: string, switchboards: number[]): Promise<{ stop: (jobs: number) => Promise<CpuPerJob> }> {
  const postgres = db.startsWith('postgres');
  const sum = (pids: number[]) => pids.reduce((a, pid) => a + cpuMs(pid), 0);
  const before = new Map((postgres ? await backendPids(db) : []).map((pid) => [pid, cpuMs(pid)]));
  const sb0 = sum(switchboards);
  const self0 = process.cpuUsage();
  return {
    async stop(jobs) {
      const self = process.cpuUsage(self0);
      // Backends opened meanwhile count from their start.
      const pids = postgres ? await backendPids(db) : [];
      const pgMs = pids.reduce((a, pid) => a + cpuMs(pid) - (before.get(pid) ?? 0), 0);
      return {
        switchboards: (sum(switchboards) - sb0) / jobs,
        postgres: postgres ? pgMs / jobs : null,
        bench: (self.user + self.system) / 1000 / jobs,
      };
    },
  };
}

/** What a setup measured, or why it could not run. */
type Outcome = { cold: Phase | null; burst: Phase; paced: Phase | null; rate: number } | { error: string };

interface Setup {
  name: string;
  /** Makes a fresh database and gives its `--db`, and how to remove it; or why there is none. */
  database: () => Promise<{ db: string; drop: () => Promise<void> } | { error: string }>;
  replicas: number;
  /** Offered rate of the paced phase (jobs/s). */
  rate: number;
}

function startServer(db: string): { child: ChildProcess; url: Promise<string> } {
  const profile = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
  const serve = [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', db, '--log-level', 'warn'];
  const child = spawn(process.execPath, [...profile, ...serve], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (l) => resolve(l.replace('listening on ', '')));
    child.once('exit', (code) => reject(new Error(`switchboard exited with ${code}`)));
  });
  return { child, url };
}

/** The lifecycle phases on `replicas` switchboards over the database `db`. */
async function run(db: string, replicas: number, rate: number): Promise<Outcome> {
  admin(['user', 'add', 'bench', '--db', db]);
  const token = admin(['token', 'create', '--db', db, '--user', 'bench']);
  const sups = Array.from(
    { length: SUPERVISORS },
    (_, i) =>
      JSON.parse(admin(['supervisor', 'add', `fake-${i}`, '--db', db, '--tags', 'board:bench', '--json'])) as {
        id: string;
        token: string;
      },
  );
  const servers = Array.from({ length: replicas }, () => startServer(db));
  // Answers that do not come within 10 s fail the request rather than hang the bench.
  const agent = new Agent({ connections: 64, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const supervisors: FastSupervisor[] = [];
  try {
    const urls = await Promise.all(servers.map((s) => s.url));
    // Supervisors and clients take the replicas in turn.
    for (const [i, s] of sups.entries())
      supervisors.push(await FastSupervisor.connect(urls[i % replicas]!, s.id, s.token));
    const readyAt = (id: string) => supervisors.map((s) => s.readyAt.get(id)).find((x) => x !== undefined);

    const jobBody: JobRequestBody = {
      init_spec: { type: 'image', image_id: IMAGE_ID },
      ssh_keys: [],
      restart_policy: { remaining_restart_count: 0 },
      parameters: { k: { value: 'v', secret: true } },
      tag_config: 'board:bench',
      override_timeout: null,
    };
    const body = JSON.stringify(jobBody);
    const enqueue = async (url: string): Promise<Enqueued> => {
      const start = performance.now();
      const res = await request(`${url}${API_PREFIX}/jobs/new`, {
        method: 'POST',
        dispatcher: agent,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      const json = (await res.body.json()) as { job_id?: string };
      if (res.statusCode !== 200 || !json.job_id)
        throw new Error(`enqueue failed: ${res.statusCode} ${JSON.stringify(json)}`);
      return { id: json.job_id, start, latency: performance.now() - start };
    };
    let terminatedSent = 0;
    for (const s of supervisors) s.onTerminated = () => terminatedSent++;
    /** How many of `ids` the switchboard shows terminated; fails on one that did not succeed. */
    const ended = async (ids: Set<string>): Promise<number> => {
      const res = await request(`${urls[0]}${API_PREFIX}/jobs?limit=10000`, {
        dispatcher: agent,
        headers: { authorization: `Bearer ${token}` },
      });
      const jobs = Object.entries(parseJobListAnswer(await res.body.json()).jobs).filter(([id]) => ids.has(id));
      const done = jobs.filter(([, j]) => j.state.type === 'terminated').map(([, j]) => j);
      const bad = done.filter((j) => j.state.result?.exit_status !== 'workload_finished_success');
      if (bad.length) throw new Error(`${bad.length} jobs did not succeed, e.g. ${bad[0]!.state.result?.exit_status}`);
      return done.length;
    };
    /** Waits until the supervisors sent `sent` ends and the switchboard shows `ids` ended, or the deadline passes. */
    const finish = async (jobs: Enqueued[], sent: number, deadline: number, t0: number): Promise<Phase> => {
      const ids = new Set(jobs.map((j) => j.id));
      while (terminatedSent < sent && performance.now() < deadline) await sleep(1);
      for (;;) {
        const n = await ended(ids);
        if (n >= ids.size) {
          return {
            seconds: (performance.now() - t0) / 1000,
            enqueue: jobs.map((j) => j.latency),
            ready: jobs.map((j) => readyAt(j.id)! - j.start),
          };
        }
        if (performance.now() >= deadline) {
          return { unfinished: `did not finish: ${n} of ${ids.size} jobs ended in ${DEADLINE_MS / 1000} s` };
        }
        await sleep(terminatedSent < sent ? 200 : 10);
      }
    };

    /** `count` jobs enqueued at once by CLIENTS concurrent clients, `before` jobs having ended already. */
    const burstOf = async (count: number, before: number): Promise<Phase> => {
      const jobs: Enqueued[] = [];
      const t0 = performance.now();
      const deadline = t0 + DEADLINE_MS;
      let next = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          while (next < count && performance.now() < deadline) {
            next++;
            jobs.push(await enqueue(urls[c % replicas]!));
          }
        }),
      );
      return finish(jobs, before + count, deadline, t0);
    };

    /** A burst with the CPU it took per job. */
    const measuredBurst = async (count: number, before: number): Promise<Phase> => {
      const meter = await cpuMeter(
        db,
        servers.map((s) => s.child.pid!),
      );
      const phase = await burstOf(count, before);
      if (!('unfinished' in phase)) phase.cpu = await meter.stop(count);
      return phase;
    };
    // Cold: the first jobs after start (WARMUP).
    const cold = WARMUP > 0 ? await measuredBurst(Math.min(WARMUP, COLD_BURST), 0) : null;
    if (cold && 'unfinished' in cold) return { cold, burst: cold, paced: null, rate };
    // The rest of the warm-up, in bursts a user's queue takes.
    for (let done = COLD_BURST; done < WARMUP; done += COLD_BURST) {
      const more = await burstOf(Math.min(COLD_BURST, WARMUP - done), done);
      if ('unfinished' in more) return { cold: more, burst: more, paced: null, rate };
    }
    // Burst: everything enqueued at once by CLIENTS concurrent clients.
    const burst = await measuredBurst(JOBS, WARMUP);
    if ('unfinished' in burst) return { cold, burst, paced: null, rate };

    // Paced: the rate offered open-loop (one enqueue every 1000/rate ms, not waiting for answers),
    // as CI systems submit jobs: request latency and enqueue->ready at that load.
    const paced: Array<Promise<Enqueued>> = [];
    const t1 = performance.now();
    for (let i = 0; i < JOBS; i++) {
      const due = t1 + (i * 1000) / rate;
      while (performance.now() < due) await sleep(Math.max(0, due - performance.now()));
      paced.push(enqueue(urls[i % replicas]!));
    }
    const pacedJobs = await Promise.all(paced);
    return { cold, burst, paced: await finish(pacedJobs, WARMUP + 2 * JOBS, t1 + DEADLINE_MS, t1), rate };
  } finally {
    for (const s of supervisors) s.close();
    await agent.close();
    await Promise.all(
      servers.map(({ child }) => {
        if (child.exitCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        return exited;
      }),
    );
  }
}

/** The PostgreSQL server's URL, and how to stop it when the bench started it; or why there is none. */
function postgresServer(): { url: string; stop: () => void } | { error: string } {
  const given = process.env.TML_TEST_POSTGRES_URL;
  if (given) return { url: given, stop: () => {} };
  const r = spawnSync(TEST_POSTGRES, [], { encoding: 'utf8' });
  const url = /^export TML_TEST_POSTGRES_URL=(\S+)$/m.exec(r.stdout ?? '')?.[1];
  const dir = /--stop (\S+)/.exec(r.stderr ?? '')?.[1];
  if (r.status !== 0 || !url || !dir) {
    const why = (r.stderr ?? r.error?.message ?? '').trim().split('\n').at(-1);
    return { error: `no PostgreSQL: TML_TEST_POSTGRES_URL is not set and scripts/test-postgres failed (${why})` };
  }
  return { url, stop: () => void spawnSync(TEST_POSTGRES, ['--stop', dir]) };
}

/** A fresh database on the server at `base`, dropped afterwards. */
async function pgDatabase(base: string): Promise<{ db: string; drop: () => Promise<void> }> {
  const name = `tml_bench_${randomBytes(6).toString('hex')}`;
  const onServer = async (text: string) => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };
  await onServer(`CREATE DATABASE ${name}`);
  const u = new URL(base);
  u.pathname = `/${name}`;
  return { db: u.toString(), drop: () => onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

async function main(): Promise<void> {
  const server = postgresServer();
  const postgres = async () => ('error' in server ? { error: server.error } : pgDatabase(server.url));
  const setups: Setup[] = [
    {
      name: 'SQLite',
      database: async () => {
        const dir = mkdtempSync(join(tmpdir(), 'tml-sb-bench-'));
        return { db: join(dir, 'sb.sqlite'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
      },
      replicas: 1,
      rate: Number(process.env.BENCH_RATE ?? 200),
    },
    { name: 'PostgreSQL, 1 replica', database: postgres, replicas: 1, rate: Number(process.env.BENCH_PG_RATE ?? 300) },
    { name: 'PostgreSQL, 2 replicas', database: postgres, replicas: 2, rate: Number(process.env.BENCH_PG_RATE ?? 300) },
  ];
  const outcomes: Outcome[] = [];
  try {
    for (const setup of setups) {
      if (process.env.BENCH_ONLY && !setup.name.includes(process.env.BENCH_ONLY)) {
        outcomes.push({ error: `skipped: BENCH_ONLY=${process.env.BENCH_ONLY}` });
        continue;
      }
      const database = await setup.database().catch((err: Error) => ({ error: `no database: ${err.message}` }));
      if ('error' in database) {
        outcomes.push(database);
        continue;
      }
      try {
        outcomes.push(await run(database.db, setup.replicas, setup.rate));
      } catch (err) {
        outcomes.push({ error: (err as Error).message.split('\n')[0]! });
      } finally {
        await database.drop();
      }
    }
  } finally {
    if (!('error' in server)) server.stop();
  }
  report(setups, outcomes);
}

type Figures = Extract<Phase, { seconds: number }>;

/** A cell: the figure, or why there is none. */
function cell(o: Outcome, phase: 'cold' | 'burst' | 'paced', show: (p: Figures, rate: number) => string): string {
  if ('error' in o) return 'not run (below)';
  const p = o[phase];
  if (p === null) return phase === 'cold' ? 'none (BENCH_WARMUP=0)' : 'skipped: the burst did not finish';
  return 'unfinished' in p ? p.unfinished : show(p, o.rate);
}

const pair = (values: number[]) => `${fmt(percentile(values, 50))} / ${fmt(percentile(values, 99))} ms`;
const cpuTotal = (c: CpuPerJob) => c.switchboards + (c.postgres ?? 0) + c.bench;
const cpuText = (c: CpuPerJob) =>
  `${c.switchboards.toFixed(1)} + ${c.postgres === null ? '-' : c.postgres.toFixed(1)} + ${c.bench.toFixed(1)} = ${cpuTotal(c).toFixed(1)} ms`;
/** Jobs per second if every core did nothing but this work: the machine's limit for the setup. */
const ceiling = (c: CpuPerJob) => (availableParallelism() * 1000) / cpuTotal(c);
const throughput = (p: Figures) => p.enqueue.length / p.seconds;

function report(setups: Setup[], outcomes: Outcome[]): void {
  const rows: Array<[string, (o: Outcome) => string]> = [
    [
      `cold burst: the first ${COLD_BURST} jobs after start, throughput`,
      (o) => cell(o, 'cold', (p) => `${throughput(p).toFixed(0)} jobs/s`),
    ],
    [
      'cold burst: CPU per job: switchboards + PostgreSQL + bench',
      (o) => cell(o, 'cold', (p) => (p.cpu ? cpuText(p.cpu) : 'not measured')),
    ],
    [
      `burst: ${JOBS} jobs at once from ${CLIENTS} clients, throughput`,
      (o) => cell(o, 'burst', (p) => `${throughput(p).toFixed(0)} jobs/s`),
    ],
    ['burst: enqueue request p50 / p99 (server saturated)', (o) => cell(o, 'burst', (p) => pair(p.enqueue))],
    ['burst: enqueue -> ready p50 / p99 (includes queueing)', (o) => cell(o, 'burst', (p) => pair(p.ready))],
    [
      'burst: CPU per job: switchboards + PostgreSQL + bench',
      (o) => cell(o, 'burst', (p) => (p.cpu ? cpuText(p.cpu) : 'not measured')),
    ],
    [
      `burst: the most the CPU per job allows on ${availableParallelism()} cores`,
      (o) => cell(o, 'burst', (p) => (p.cpu ? `${ceiling(p.cpu).toFixed(0)} jobs/s` : 'not measured')),
    ],
    [
      `paced: ${JOBS} jobs offered at a steady rate, completed`,
      (o) => cell(o, 'paced', (p, rate) => `${throughput(p).toFixed(0)} jobs/s of ${rate} offered`),
    ],
    ['paced: enqueue request p50 / p99', (o) => cell(o, 'paced', (p) => pair(p.enqueue))],
    ['paced: enqueue -> ready p50 / p99', (o) => cell(o, 'paced', (p) => pair(p.ready))],
  ];
  const cells = (o: Outcome | undefined) => (o ? o : { error: 'not run' });
  process.stdout.write('\n### Switchboard (tml-switchboard serve, loopback WebSocket supervisors)\n\n');
  process.stdout.write(`| measure | ${setups.map((s) => s.name).join(' | ')} |\n`);
  process.stdout.write(`| --- |${setups.map(() => ' --- |').join('')}\n`);
  for (const [label, show] of rows) {
    process.stdout.write(`| ${label} | ${setups.map((_, i) => show(cells(outcomes[i]))).join(' | ')} |\n`);
  }
  // Why a setup did not run, once for the setups it stopped alike.
  const why = new Map<string, string[]>();
  outcomes.forEach((o, i) => 'error' in o && why.set(o.error, [...(why.get(o.error) ?? []), setups[i]!.name]));
  for (const [error, names] of why) process.stdout.write(`\n${names.join(' and ')}: not run: ${error}\n`);

  /** A target on one setup: met, not met, or not measured and why. */
  const target = (i: number, text: string, check: (burst: Figures, paced: Figures | null) => boolean | null) => {
    const o = cells(outcomes[i]);
    let verdict: string;
    if ('error' in o) verdict = 'not measured (not run)';
    else if ('unfinished' in o.burst) verdict = `not met (${o.burst.unfinished})`;
    else {
      const paced = o.paced && 'unfinished' in o.paced ? null : o.paced;
      const ok = check(o.burst, paced);
      verdict =
        ok === null
          ? `not measured (paced: ${o.paced && 'unfinished' in o.paced ? o.paced.unfinished : 'not run'})`
          : ok
            ? 'met'
            : 'not met';
    }
    return `| ${setups[i]!.name} | ${text} | ${verdict} |\n`;
  };
  process.stdout.write('\n| setup | target | result |\n| --- | --- | --- |\n');
  process.stdout.write(target(0, 'burst >= 200 jobs/s (issue 4)', (b) => throughput(b) >= 200));
  process.stdout.write(
    target(0, `paced at ${setups[0]!.rate} jobs/s: p99 enqueue <= 20 ms (issue 4)`, (_, p) =>
      p ? percentile(p.enqueue, 99) <= 20 : null,
    ),
  );
  process.stdout.write(target(2, 'burst >= 300 jobs/s (issue 11)', (b) => throughput(b) >= 300));
  process.stdout.write(
    target(2, `paced at ${setups[2]!.rate} jobs/s: p99 enqueue <= 50 ms (issue 11)`, (_, p) =>
      p ? percentile(p.enqueue, 99) <= 50 : null,
    ),
  );
  // Latency percentiles depend on what else the machine runs: say so next to them.
  process.stdout.write(
    `\n${availableParallelism()} CPUs (PostgreSQL, the switchboards and the bench share them), load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}; no side-by-side reference (upstream's switchboard needs real supervisors).\n`,
  );
}

main().catch((err: Error) => {
  process.stderr.write(`bench/switchboard: ${err.message}\n`);
  process.exit(1);
});
