import { execFileSync } from 'node:child_process';
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { testWith } from '../helpers/tools.js';
import { FakeSupervisor, jobRequest, tempDir } from './harness.js';
import { adminOk, serve } from './process.js';

const root = { tool: 'root (to mount a tmpfs)', install: 'run the tests as root', found: process.getuid?.() === 0 };
const test = testWith(root);

test('a switchboard whose database disk fills up keeps serving and stores every console byte once there is room', async (t) => {
  const { dir, cleanup } = tempDir();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', dir]);
  const db = join(dir, 'sb.sqlite');
  let sb: Awaited<ReturnType<typeof serve>> | undefined;
  let fake: FakeSupervisor | undefined;
  try {
    adminOk(['user', 'add', 'alice', '--db', db]);
    const token = adminOk(['token', 'create', '--db', db, '--user', 'alice']);
    const sup = JSON.parse(adminOk(['supervisor', 'add', 's', '--db', db, '--tags', '', '--json'])) as {
      id: string;
      token: string;
    };
    sb = await serve(db);
    fake = await FakeSupervisor.connect(sb.url, sup.id, sup.token);
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${sb!.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    const id = ((await (await api('POST', '/jobs/new', jobRequest())).json()) as { job_id: string }).job_id;
    await fake.next('start_job', (m) => m.message.job_id === id);
    // Fill what is left of the disk.
    const filler = join(dir, 'filler');
    try {
      for (;;) appendFileSync(filler, Buffer.alloc(64 * 1024));
    } catch {
      // ENOSPC: full
    }
    const chunk = 'x'.repeat(60_000);
    for (let i = 0; i < 40; i++) fake.console(id, chunk);
    while (!/not stored: database: .*SQLITE_FULL/.test(sb.stderr())) await new Promise((r) => setTimeout(r, 20));
    t.is((await api('GET', `/jobs/${id}/status`)).status, 200);
    // Room again: what waited is stored, in order, and the job ends as its supervisor says.
    rmSync(filler);
    fake.declare(id, 'success', 'done');
    fake.transition(id, { state: 'terminated' });
    let status: { state: { type: string; result: { exit_status: string } | null }; log_bytes: number };
    do {
      await new Promise((r) => setTimeout(r, 50));
      status = ((await (await api('GET', `/jobs/${id}/status`)).json()) as { job_status: typeof status }).job_status;
    } while (status.state.type !== 'terminated');
    t.is(status.state.result?.exit_status, 'workload_finished_success');
    t.is(status.log_bytes, 40 * 60_000);
    t.regex(sb.stderr(), /the database takes writes again/);
  } finally {
    await fake?.close();
    if (sb) {
      sb.child.kill('SIGTERM');
      await sb.exited;
    }
    execFileSync('umount', [dir]);
    cleanup();
  }
});
