import test from 'ava';
import { join } from 'node:path';
import { FakeSupervisor, IMAGE_ID, tempDir } from '../switchboard/harness.js';
import { adminOk, serve, tml } from '../switchboard/process.js';

/** Resolves when `text` has appeared in what `child` wrote to `stream`. */
function seen(stream: NodeJS.ReadableStream, text: string): Promise<void> {
  let all = '';
  return new Promise((resolve) =>
    stream.on('data', (d: Buffer) => {
      all += d.toString();
      if (all.includes(text)) resolve();
    }),
  );
}

test('tml job wait rides out a switchboard restart (kill -9) and reports the outcome', async (t) => {
  const { dir, cleanup } = tempDir();
  const db = join(dir, 'sb.sqlite');
  adminOk(['user', 'add', 'alice', '--db', db]);
  const token = adminOk(['token', 'create', '--db', db, '--user', 'alice']);
  const sup = JSON.parse(adminOk(['supervisor', 'add', 'rpi', '--db', db, '--tags', 'board:x', '--json'])) as {
    id: string;
    token: string;
  };
  let server = await serve(db);
  const url = server.url;
  const fakes: FakeSupervisor[] = [];
  try {
    const fake = await FakeSupervisor.connect(url, sup.id, sup.token);
    fakes.push(fake);
    const env = { TML_SWITCHBOARD_URL: url, TML_API_TOKEN: token };
    const enqueued = await tml(['job', 'enqueue', IMAGE_ID, '--tag-config', 'board:x'], env);
    const id = (JSON.parse(enqueued.stdout) as { job_id: string }).job_id;
    await fake.next('start_job', (m) => m.message.job_id === id);
    fake.transition(id, { state: 'ready' });
    let sawOutage!: () => void;
    const outageNoted = new Promise<void>((resolve) => (sawOutage = resolve));
    const waiting = tml(['job', 'wait', id], env, {
      onSpawn: (child) => child.stderr!.on('data', (d: Buffer) => d.toString().includes('retrying') && sawOutage()),
    });
    server.child.kill('SIGKILL');
    await server.exited;
    await fake.close();
    await outageNoted;
    // Same database, same address.
    server = await serve(db, [], url.replace('http://', ''));
    const back = await FakeSupervisor.connect(url, sup.id, sup.token, {
      type: 'ongoing_job',
      job_id: id,
      job_state: { state: 'ready' },
    });
    fakes.push(back);
    await back.next('status_request');
    back.declare(id, 'success');
    back.transition(id, { state: 'terminated' });
    const r = await waiting;
    t.is(r.status, 0, r.stderr);
    t.regex(r.stderr, /cannot reach the switchboard .* retrying/);
    t.regex(r.stderr, /reachable again/);
    t.regex(r.stderr, /WorkloadFinishedSuccess/);
  } finally {
    await Promise.all(fakes.map((f) => f.close()));
    server.child.kill('SIGTERM');
    await server.exited;
    cleanup();
  }
});

test('tml job logs --follow rides out a switchboard restart (kill -9): no gap, no duplicate', async (t) => {
  const { dir, cleanup } = tempDir();
  const db = join(dir, 'sb.sqlite');
  adminOk(['user', 'add', 'alice', '--db', db]);
  const token = adminOk(['token', 'create', '--db', db, '--user', 'alice']);
  const sup = JSON.parse(adminOk(['supervisor', 'add', 'rpi', '--db', db, '--tags', 'board:x', '--json'])) as {
    id: string;
    token: string;
  };
  let server = await serve(db);
  const url = server.url;
  const fakes: FakeSupervisor[] = [];
  try {
    const fake = await FakeSupervisor.connect(url, sup.id, sup.token);
    fakes.push(fake);
    const env = { TML_SWITCHBOARD_URL: url, TML_API_TOKEN: token };
    const id = (
      JSON.parse((await tml(['job', 'enqueue', IMAGE_ID, '--tag-config', 'board:x'], env)).stdout) as { job_id: string }
    ).job_id;
    await fake.next('start_job', (m) => m.message.job_id === id);
    fake.transition(id, { state: 'ready' });
    fake.console(id, 'part one\n');
    let firstPart!: Promise<void>;
    let outage!: Promise<void>;
    const following = tml(['job', 'logs', '--follow', id], env, {
      onSpawn: (child) => {
        firstPart = seen(child.stdout!, 'part one\n');
        outage = seen(child.stderr!, 'retrying');
      },
    });
    await firstPart;
    server.child.kill('SIGKILL');
    await server.exited;
    await fake.close();
    await outage;
    server = await serve(db, [], url.replace('http://', ''));
    const back = await FakeSupervisor.connect(url, sup.id, sup.token, {
      type: 'ongoing_job',
      job_id: id,
      job_state: { state: 'ready' },
    });
    fakes.push(back);
    await back.next('status_request');
    back.console(id, 'part two\n');
    back.finish(id);
    const r = await following;
    t.is(r.status, 0, r.stderr);
    t.is(r.stdout, 'part one\npart two\n');
    t.regex(
      r.stderr,
      /^tml: lost the console stream from http:\S+: the connection was reset \(ECONNRESET\); retrying for up to 60 s$/m,
    );
    t.regex(r.stderr, /reachable again/);
  } finally {
    await Promise.all(fakes.map((f) => f.close()));
    server.child.kill('SIGTERM');
    await server.exited;
    cleanup();
  }
});
