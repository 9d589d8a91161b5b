// CLI start-up: each installed command (package.json `bin`) answering `--help` and its quickest
// data command, side by side with `node -e 0` (Node's own floor) and with the tsc-built CLI it is
// bundled from. Target (issue 12): within 1.6x of `node -e 0`. Each data command is also timed
// against the same work in a few lines of bare Node (BARE): what Node itself needs for it.
// Each command runs right after a `node -e 0`, in turns, so that both see the same machine load;
// wall times are medians. CPU times (user + system, the mean over the runs, from the children's
// times in /proc/self/stat) hardly depend on the load, so they back the wall times up.
// Usage: node dist/bench/cli-start.js [--runs N]

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliPath, runCli, Service } from '../scripts/child-processes.js';
import { benchEnv, droppedNote } from './node-floor.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TARGET = 1.6;
const argv = process.argv.slice(2);
const RUNS = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) : 7;

interface Command {
  /** the command as the table shows it */
  label: string;
  bin: string;
  /** the tsc-built CLI, for comparison */
  tsc: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** what the command does beyond starting, said when the target is missed */
  work?: string;
  /** The same work done by a few lines of Node (`node -e SCRIPT ARGS`): how much of the gap is Node's. */
  bare?: { script: string; args: string[] };
}

/** The bare-Node twins of the data commands: what doing only that work costs Node here. */
const BARE = {
  list: `const fs = require('fs'), p = require('path'), c = require('crypto');
    const walk = (d, depth) => { for (const e of fs.readdirSync(d)) { const f = p.join(d, e);
      if (depth < 3) walk(f, depth + 1);
      else process.stdout.write(c.createHash('sha256').update(fs.readFileSync(f)).digest('hex') + ' ' + e + '\\n'); } };
    walk(p.join(process.argv[1], 'images'), 0);`,
  parameter: `process.stdout.write(require('fs').readFileSync(require('path').join(process.env.TML_PARAMETERS_DIR, 'board')));`,
  sqlite: `const Database = require(process.argv[1]); const db = new Database(process.argv[2], { readonly: true });
    for (const r of db.prepare('select * from supervisors order by name').all()) process.stdout.write(r.name + '\\n');`,
  http: `require('http').get(process.env.TML_SWITCHBOARD_URL + '/api/v1/jobs/' + process.argv[1] + '/status',
    { headers: { authorization: 'Bearer ' + process.env.TML_API_TOKEN } },
    (r) => { r.pipe(process.stdout); r.on('end', () => process.exitCode = r.statusCode === 200 ? 0 : 1); });`,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU time (ms) of this process's waited-for children so far; USER_HZ is 100 on Linux. */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
}

interface Sample {
  wall: number[];
  cpu: number;
}

function timeRun(argv: string[], env: NodeJS.ProcessEnv, sample: Sample, label: string): void {
  const cpu0 = childrenCpuMs();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  sample.wall.push(performance.now() - t0);
  sample.cpu += childrenCpuMs() - cpu0;
  if (r.status !== 0) throw new Error(`${label} exited ${r.status}: ${r.stderr.toString().trim()}`);
}

const work = mkdtempSync(path.join(os.tmpdir(), 'tml-cli-start-'));
const services: Service[] = [];
const env = benchEnv();

async function stopAll(): Promise<void> {
  for (const s of services.reverse()) await s.stop();
  rmSync(work, { recursive: true, force: true });
}

/** A store of 3 small images, a parameters directory, and a switchboard with one queued job. */
async function fixtures(): Promise<Command[]> {
  const bin = (name: string) => path.join(ROOT, 'bin', `${name}.cjs`);
  const store = path.join(work, 'store');
  mkdirSync(store);
  for (const n of [1, 2, 3]) {
    const blob = path.join(work, `boot-${n}.sh`);
    writeFileSync(blob, `#!/bin/sh\necho image ${n}\n`);
    await runCli(cliPath('imagetool/cli.js'), ['create', '--label', `image ${n}`, '--blob', `boot=${blob}`], {
      env: { ...env, TML_IMAGE_STORE: store },
    });
  }
  const params = path.join(work, 'parameters');
  mkdirSync(params);
  writeFileSync(path.join(params, 'board'), 'nrf52840dk');

  const db = path.join(work, 'switchboard.db');
  const sb = cliPath('switchboard/cli.js');
  await runCli(sb, ['user', 'add', 'bench', '--db', db, '--admin'], { env });
  const token = (await runCli(sb, ['token', 'create', '--db', db, '--user', 'bench'], { env })).stdout.trim();
  await runCli(sb, ['supervisor', 'add', 'rack-1', '--db', db, '--tags', 'board:bench'], { env });
  const serve = new Service('tml-switchboard', sb, ['serve', '--listen', '127.0.0.1:0', '--db', db], env);
  services.push(serve);
  const url = (await serve.waitForLine(/listening on (http:\/\/\S+)/, 15_000))[1]!;
  const tmlEnv = { ...env, TML_API_TOKEN: token, TML_SWITCHBOARD_URL: url };
  const enqueued = await runCli(
    cliPath('tml/cli.js'),
    ['job', 'enqueue', 'ab'.repeat(32), '--tag-config', 'board:bench'],
    {
      env: tmlEnv,
    },
  );
  const jobId = (JSON.parse(enqueued.stdout) as { job_id: string }).job_id;

  const cmd = (name: string, area: string, args: string[], extra: Partial<Command> = {}): Command => ({
    label: `${name} ${args.join(' ')}`,
    bin: bin(name),
    tsc: cliPath(`${area}/cli.js`),
    args,
    ...extra,
  });
  return [
    cmd('tml-imagetool', 'imagetool', ['--help']),
    cmd('tml-imagetool', 'imagetool', ['list', '--store', store], {
      label: 'tml-imagetool list --store STORE',
      work: 'hashes 3 manifests (node:crypto) and prints to stdout, for which Node loads node:stream and node:net',
      bare: { script: BARE.list, args: [store] },
    }),
    cmd('tml-puppet', 'puppet', ['--help']),
    cmd('tml-puppet', 'puppet', ['parameter', 'get', 'board'], {
      env: { ...env, TML_PARAMETERS_DIR: params },
      work: 'reads one parameter file',
      bare: { script: BARE.parameter, args: [] },
    }),
    cmd('tml-supervisor', 'supervisor', ['--help']),
    cmd('tml-supervisor', 'supervisor', ['--version']),
    cmd('tml-switchboard', 'switchboard', ['--help']),
    cmd('tml-switchboard', 'switchboard', ['supervisor', 'list', '--db', db], {
      label: 'tml-switchboard supervisor list --db DB',
      work: 'loads SQLite (a native addon) and Kysely, opens the database and checks its schema (statements are prepared on first use)',
      bare: { script: BARE.sqlite, args: [path.join(ROOT, 'node_modules', 'better-sqlite3'), db] },
    }),
    cmd('tml', 'tml', ['--help']),
    cmd('tml', 'tml', ['job', 'status', jobId], {
      label: 'tml job status ID',
      env: tmlEnv,
      work: 'loads node:http, opens a connection and waits for the switchboard to answer',
      bare: { script: BARE.http, args: [jobId] },
    }),
  ];
}

async function main(): Promise<void> {
  const commands = await fixtures();
  const rows: string[] = [];
  for (const c of commands) {
    const base: Sample = { wall: [], cpu: 0 };
    const bundled: Sample = { wall: [], cpu: 0 };
    const tsc: Sample = { wall: [], cpu: 0 };
    const bare: Sample = { wall: [], cpu: 0 };
    const label = c.label;
    for (let i = 0; i < RUNS; i++) {
      timeRun(['-e', '0'], env, base, 'node -e 0');
      timeRun([c.bin, ...c.args], c.env ?? env, bundled, label);
      timeRun([c.tsc, ...c.args], c.env ?? env, tsc, `${label} (tsc build)`);
      if (c.bare) timeRun(['-e', c.bare.script, ...c.bare.args], c.env ?? env, bare, `${label} (bare Node)`);
    }
    const ratio = median(bundled.wall) / median(base.wall);
    const cpuRatio = bundled.cpu / base.cpu;
    // Wall time is the target; CPU time tells a command's own cost from the machine's load.
    const met = ratio <= TARGET && cpuRatio <= TARGET;
    const why =
      cpuRatio > TARGET
        ? ` (${c.work ?? 'start-up alone'})`
        : ratio > TARGET
          ? ` (its CPU time is within ${TARGET}x: the wall time is the machine's load)`
          : '';
    const bareCell = c.bare
      ? `${median(bare.wall).toFixed(0)} ms (x${(median(bare.wall) / median(base.wall)).toFixed(2)}); ours x${(median(bundled.wall) / median(bare.wall)).toFixed(2)}`
      : '-';
    rows.push(
      `| \`${label}\` | ${median(bundled.wall).toFixed(0)} ms | ${median(base.wall).toFixed(0)} ms | x${ratio.toFixed(2)} | x${cpuRatio.toFixed(2)} | ${bareCell} | ${median(tsc.wall).toFixed(0)} ms | ${met ? 'yes' : 'NO'}${why} |`,
    );
  }
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  console.log(
    `\n## CLI start-up (${os.cpus().length} CPUs, node ${process.version}, load average ${load}; medians of ${RUNS})\n`,
  );
  console.log(
    `| command (installed bin) | wall | \`node -e 0\` | ratio | CPU ratio | the same work in bare Node (its ratio); ours to it | tsc build | within ${TARGET}x (wall and CPU) |`,
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(r);
  process.stdout.write(droppedNote());
}

main()
  .catch((e: Error) => {
    console.error(`bench/cli-start: ${e.message}`);
    process.exitCode = 1;
  })
  .finally(stopAll);
