// Switchboard benchmark: jobs through the whole lifecycle against 4 fake supervisors that hold
// real WebSocket connections to a real `tml-switchboard serve` process on loopback.
//   burst:  1000 jobs enqueued by 16 concurrent clients -> jobs/s, enqueue request p50/p99,
//           enqueue->ready p50/p99 (queueing included)
//   paced:  1000 jobs offered at 200 jobs/s -> enqueue request p50/p99, enqueue->ready p50/p99
// Targets (issue 4): >= 200 jobs/s, p99 enqueue request <= 20 ms.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { WebSocket } from 'ws';
import { API_PREFIX, parseJobListAnswer } from '../protocol/switchboard-api.js';
import type { JobRequestBody } from '../protocol/job.js';
import { WEBSOCKET_SUBPROTOCOL, parseToSupervisor, type ToSwitchboard } from '../protocol/switchboard-ws.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
const SUPERVISORS = 4;
const CLIENTS = 16;
/** Offered load of the paced run: the throughput target. */
const RATE = Number(process.env.BENCH_RATE ?? 200);
const CLI = fileURLToPath(new URL('../switchboard/cli.js', import.meta.url));
const IMAGE_ID = 'cd'.repeat(32);

function admin(args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tml-switchboard ${args[0]} failed: ${r.stderr}`);
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

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tml-sb-bench-'));
  const db = join(dir, 'sb.sqlite');
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
  const server = spawn(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--db', db, '--log-level', 'warn'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const agent = new Agent({ connections: 64, pipelining: 1 });
  const supervisors: FastSupervisor[] = [];
  try {
    const url = await new Promise<string>((resolve, reject) => {
      createInterface({ input: server.stdout! }).once('line', (l) => resolve(l.replace('listening on ', '')));
      server.once('exit', (code) => reject(new Error(`switchboard exited with ${code}`)));
    });
    for (const s of sups) supervisors.push(await FastSupervisor.connect(url, s.id, s.token));
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
    const enqueue = async (): Promise<{ id: string; start: number; latency: number }> => {
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
    // Waits until the supervisors have sent every job's end, then until the switchboard shows it.
    const allTerminated = async (n: number) => {
      while (terminatedSent < n) await new Promise((r) => setTimeout(r, 1));
      for (;;) {
        const res = await request(`${url}${API_PREFIX}/jobs?limit=10000`, {
          dispatcher: agent,
          headers: { authorization: `Bearer ${token}` },
        });
        const jobs = Object.values(parseJobListAnswer(await res.body.json()).jobs);
        const done = jobs.filter((j) => j.state.type === 'terminated');
        if (done.length >= n) {
          const bad = done.filter((j) => j.state.result?.exit_status !== 'workload_finished_success');
          if (bad.length)
            throw new Error(`${bad.length} jobs did not succeed, e.g. ${bad[0]!.state.result?.exit_status}`);
          return;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    };

    // Burst: everything enqueued at once by CLIENTS concurrent clients.
    const burst: Array<{ id: string; start: number; latency: number }> = [];
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < JOBS) {
          next++;
          burst.push(await enqueue());
        }
      }),
    );
    await allTerminated(JOBS);
    const burstSeconds = (performance.now() - t0) / 1000;
    const enqueueLatency = burst.map((j) => j.latency);
    const burstReady = burst.map((j) => readyAt(j.id)! - j.start);

    // Paced: the target rate offered open-loop (one enqueue every 1000/RATE ms, not waiting for
    // answers), as CI systems submit jobs: request latency and enqueue->ready at that load.
    const paced: Array<Promise<{ id: string; start: number; latency: number }>> = [];
    const t1 = performance.now();
    for (let i = 0; i < JOBS; i++) {
      const due = t1 + (i * 1000) / RATE;
      while (performance.now() < due) await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      paced.push(enqueue());
    }
    const pacedJobs = await Promise.all(paced);
    await allTerminated(2 * JOBS);
    const pacedSeconds = (performance.now() - t1) / 1000;
    const pacedLatency = pacedJobs.map((j) => j.latency);
    const pacedReady = pacedJobs.map((j) => readyAt(j.id)! - j.start);

    const rows: Array<[string, string, string]> = [
      [
        `burst: ${JOBS} jobs at once from ${CLIENTS} clients, throughput`,
        `${(JOBS / burstSeconds).toFixed(0)} jobs/s`,
        '>= 200 jobs/s',
      ],
      [
        'burst: enqueue request p50 / p99 (server saturated)',
        `${fmt(percentile(enqueueLatency, 50))} / ${fmt(percentile(enqueueLatency, 99))} ms`,
        '',
      ],
      [
        'burst: enqueue -> ready p50 / p99 (includes queueing)',
        `${fmt(percentile(burstReady, 50))} / ${fmt(percentile(burstReady, 99))} ms`,
        '',
      ],
      [`paced: ${JOBS} jobs offered at ${RATE} jobs/s, completed`, `${(JOBS / pacedSeconds).toFixed(0)} jobs/s`, ''],
      [
        'paced: enqueue request p50 / p99',
        `${fmt(percentile(pacedLatency, 50))} / ${fmt(percentile(pacedLatency, 99))} ms`,
        'p99 <= 20 ms',
      ],
      [
        'paced: enqueue -> ready p50 / p99',
        `${fmt(percentile(pacedReady, 50))} / ${fmt(percentile(pacedReady, 99))} ms`,
        '',
      ],
    ];
    process.stdout.write('\n### Switchboard (tml-switchboard serve, SQLite WAL, loopback WebSocket supervisors)\n\n');
    process.stdout.write('| measure | result | target |\n| --- | --- | --- |\n');
    for (const [a, b, c] of rows) process.stdout.write(`| ${a} | ${b} | ${c} |\n`);
    // Latency percentiles depend on what else the machine runs: say so next to them.
    process.stdout.write(
      `\n${availableParallelism()} CPUs, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}; no side-by-side reference (upstream's switchboard needs PostgreSQL and real supervisors).\n`,
    );
  } finally {
    for (const s of supervisors) s.close();
    await agent.close();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`bench/switchboard: ${err.message}\n`);
  process.exit(1);
});
