// tml-puppet benchmarks: start-up to `ready`, idle memory, and `runcommand` output streaming,
// each beside a baseline a user would otherwise have (bare node start-up, a plain pipe).
// Usage: node dist/bench/puppet.js [--runs N] [--mib N]

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlSocketServer, type JobContext } from '../supervisor/control-socket/server.js';

const DIST = fileURLToPath(new URL('../', import.meta.url));
const CLIS: Array<[string, string]> = [
  ['tsc build (dist/puppet/cli.js)', path.join(DIST, 'puppet', 'cli.js')],
  ['bundle (dist/tml-puppet.mjs)', path.join(DIST, 'tml-puppet.mjs')],
];

const argv = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const RUNS = flag('--runs', 20);
const STREAM_MIB = flag('--mib', 256);

const context: JobContext = {
  jobId: '00000000-0000-4000-8000-000000000001',
  hostId: '00000000-0000-4000-8000-000000000002',
  sshKeys: [],
  networkConfig: null,
  parameters: { board: { value: 'bench', secret: false }, token: { value: 'x', secret: true } },
};

const work = mkdtempSync(path.join(os.tmpdir(), 'tml-puppet-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function vmHWMMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024;
}

let runId = 0;
/** CPU time (user + system) a process has used so far: start-up cost independent of machine load. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}

async function startDaemon(
  cli: string,
): Promise<{ server: ControlSocketServer; daemon: ChildProcess; ms: number; cpu: number }> {
  const server = await ControlSocketServer.listen({ context });
  const dir = path.join(work, `run-${runId++}`);
  const ready = once(server, 'ready');
  const t0 = performance.now();
  const daemon = spawn(
    process.execPath,
    [
      cli,
      'daemon',
      '--transport',
      'tcp',
      '--tcp-control-socket-addr',
      `127.0.0.1:${server.port}`,
      '--parameters-dir',
      path.join(dir, 'parameters'),
      '--job-info-dir',
      dir,
      '--socket',
      path.join(dir, 'puppet.sock'),
      '--dbus-bus',
      'none',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await ready;
  return { server, daemon, ms: performance.now() - t0, cpu: cpuMs(daemon.pid!) };
}

async function stop(d: { server: ControlSocketServer; daemon: ChildProcess }): Promise<void> {
  const exited = once(d.daemon, 'exit');
  d.daemon.kill('SIGTERM');
  await exited;
  await d.server.close();
}

async function bareNodeStartMs(): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const c = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await once(c, 'exit');
    times.push(performance.now() - t0);
  }
  return median(times);
}

async function streamThroughput(cli: string): Promise<{ mibps: number; hwm: number; bytes: number }> {
  const script = path.join(work, 'stream.sh');
  // upstream runs cmdline as a program without arguments, hence a script
  writeFileSync(script, `#!/bin/sh\nexec head -c ${STREAM_MIB * 1024 * 1024} /dev/zero\n`);
  chmodSync(script, 0o755);
  const d = await startDaemon(cli);
  let bytes = 0;
  let hwm = 0;
  const sampler = setInterval(() => (hwm = Math.max(hwm, vmHWMMiB(d.daemon.pid!))), 100);
  const t0 = performance.now();
  const run = d.server.runCommand(script);
  run.on('output', (chunk: Buffer) => (bytes += chunk.length));
  const [code] = await once(run, 'exit');
  const secs = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  hwm = Math.max(hwm, vmHWMMiB(d.daemon.pid!));
  await stop(d);
  if (code !== 0 || bytes !== STREAM_MIB * 1024 * 1024)
    throw new Error(`stream incomplete: exit ${code}, ${bytes} bytes`);
  return { mibps: bytes / 1024 / 1024 / secs, hwm, bytes };
}

async function pipeBaselineMiBps(): Promise<number> {
  const t0 = performance.now();
  const c = spawn('/bin/sh', ['-c', `head -c ${STREAM_MIB * 1024 * 1024} /dev/zero | cat > /dev/null`], {
    stdio: 'ignore',
  });
  await once(c, 'exit');
  return STREAM_MIB / ((performance.now() - t0) / 1000);
}

interface Row {
  metric: string;
  value: string;
  target: string;
  ok: boolean | null;
  baseline: string;
}

async function main(): Promise<void> {
  for (const [, cli] of CLIS) {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  }
  const rows: Row[] = [];
  const nodeMs = await bareNodeStartMs();
  const pipe = await pipeBaselineMiBps();
  for (const [name, cli] of CLIS) {
    const times: number[] = [];
    const cpus: number[] = [];
    let idleHwm = 0;
    for (let i = 0; i < RUNS; i++) {
      const d = await startDaemon(cli);
      times.push(d.ms);
      cpus.push(d.cpu);
      if (i === RUNS - 1) {
        await new Promise((r) => setTimeout(r, 1000));
        idleHwm = vmHWMMiB(d.daemon.pid!);
      }
      await stop(d);
    }
    const startMs = median(times);
    rows.push({
      metric: `${name}: start to ready, median of ${RUNS}`,
      value: `${startMs.toFixed(0)} ms`,
      target: '<= 200 ms',
      ok: startMs <= 200,
      baseline: `bare \`node -e 0\`: ${nodeMs.toFixed(0)} ms (x${(startMs / nodeMs).toFixed(2)})`,
    });
    rows.push({
      metric: `${name}: CPU time to ready, median of ${RUNS}`,
      value: `${median(cpus).toFixed(0)} ms`,
      target: '-',
      ok: null,
      baseline: 'wall time above depends on machine load; this does not',
    });
    rows.push({
      metric: `${name}: idle daemon peak RSS`,
      value: `${idleHwm.toFixed(1)} MiB`,
      target: '<= 70 MiB',
      ok: idleHwm <= 70,
      baseline: '',
    });
    const s = await streamThroughput(cli);
    rows.push({
      metric: `${name}: runcommand \`head -c ${STREAM_MIB}M /dev/zero\` delivered`,
      value: `${s.mibps.toFixed(1)} MiB/s`,
      target: '>= 50 MiB/s',
      ok: s.mibps >= 50,
      baseline: `\`head | cat\` pipe: ${pipe.toFixed(0)} MiB/s (x${(s.mibps / pipe).toFixed(3)})`,
    });
    rows.push({
      metric: `${name}: daemon peak RSS while streaming`,
      value: `${s.hwm.toFixed(1)} MiB`,
      target: '<= 150 MiB',
      ok: s.hwm <= 150,
      baseline: '',
    });
  }
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  console.log(`\n## tml-puppet (${os.cpus().length} CPUs, node ${process.version}, load average ${load})\n`);
  console.log('| metric | value | target | met | baseline (ratio) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.metric} | ${r.value} | ${r.target} | ${r.ok === null ? '-' : r.ok ? 'yes' : 'NO'} | ${r.baseline} |`,
    );
}

main().catch((e: Error) => {
  console.error(`bench/puppet: ${e.message}`);
  process.exit(1);
});
