// qemu host benchmarks with the test VM image, through switchboard, supervisor and the puppet in the
// guest: enqueue -> ready, terminatejob -> terminated, per-job overlay creation, and the supervisor's
// RSS while a VM runs; for UEFI boot from the disk and for the direct kernel boot, on the
// accelerator the probe picks (TCG here; KVM where a guest boots under it).
// Usage: node dist/bench/qemu.js [--runs N]

import { execFile } from 'node:child_process';
import { silentLogger } from '../protocol/log.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { blobPath, QEMU_ATTR, readManifest } from '../imagetool/index.js';
import type { JobEventRecord } from '../protocol/switchboard-api.js';
import { ANY_EXIT_CODE, LocalCluster } from '../scripts/local-cluster.js';
import { storeTestVmImage, testVmBase } from '../scripts/test-vm-image.js';
import { chooseAccel } from '../supervisor/hosts/qemu/accel.js';
import { defaultQemuConfig } from '../supervisor/hosts/qemu/config.js';

const run = promisify(execFile);
const argv = process.argv.slice(2);
const RUNS = argv.includes('--runs') ? Number(argv[argv.indexOf('--runs') + 1]) : 3;

// Stays up a few seconds (the RSS sample), then ends the job from inside the guest.
const WORKLOAD = `#!/bin/sh
tml-puppet job substate running
sleep 4
exec tml-puppet job finish --status success --terminate
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function rssMiB(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024);
}

interface Row {
  metric: string;
  value: string;
  target: string;
  ok: boolean | null;
}

async function jobTimes(
  mode: 'uefi' | 'direct',
): Promise<{ toReady: number[]; toTerminated: number[]; rss: number[]; accel: string }> {
  const cluster = await LocalCluster.create({ prefix: 'tml-qemu-bench-' });
  try {
    const base = await testVmBase();
    const image = await storeTestVmImage(cluster.store, base, WORKLOAD);
    await cluster.prepareDatabase('bench', 'vm-1', 'board:vm');
    await cluster.startSwitchboard();
    const args = ['--qemu-state-dir', join(cluster.dir, 'state')];
    if (mode === 'direct') args.push('--qemu-direct-kernel-boot');
    const supervisor = cluster.startSupervisor({ host: 'qemu', hostArgs: args });
    const out = { toReady: [] as number[], toTerminated: [] as number[], rss: [] as number[], accel: '' };
    for (let i = 0; i < RUNS; i++) {
      const { stdout } = await cluster.tml(['job', 'enqueue', image, '--tag-config', 'board:vm']);
      const jobId = (JSON.parse(stdout) as { job_id: string }).job_id;
      for (;;) {
        const s = JSON.parse((await cluster.tml(['job', 'status', jobId, '--json'])).stdout) as {
          status_message: string | null;
          state: string;
        };
        if (s.status_message === 'running' || s.state === 'terminated') break;
        await new Promise((r) => setTimeout(r, 200));
      }
      out.rss.push(await rssMiB(supervisor.pid!));
      const wait = await cluster.tml(['job', 'wait', jobId, '--timeout', '300s'], ANY_EXIT_CODE);
      if (wait.code !== 0) throw new Error(`job ${jobId} failed: ${wait.stdout}${wait.stderr}`);
      const events = JSON.parse((await cluster.tml(['job', 'events', jobId, '--json'])).stdout) as JobEventRecord[];
      const at = (pred: (e: JobEventRecord) => boolean) => Date.parse(events.find(pred)!.at);
      const queued = at((e) => e.state === 'queued');
      const ready = at((e) => e.by === 'supervisor' && e.state === 'ready');
      const terminating = at((e) => e.state === 'terminating');
      const terminated = at((e) => e.state === 'terminated');
      out.toReady.push((ready - queued) / 1000);
      out.toTerminated.push((terminated - terminating) / 1000);
    }
    out.accel = /using (KVM|TCG)/.exec(supervisor.stderr)?.[1] ?? '?';
    return out;
  } finally {
    await cluster.close();
  }
}

async function overlayMs(): Promise<number[]> {
  const dir = await mkdtemp(join(os.tmpdir(), 'tml-qemu-overlay-bench-'));
  try {
    const base = await testVmBase();
    const store = join(dir, 'store');
    const imageId = await storeTestVmImage(store, base, WORKLOAD);
    const m = await readManifest(store, imageId);
    const head = blobPath(store, m.blobs[m.attrs[QEMU_ATTR.head]!]!.digest);
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      await run('qemu-img', [
        'create',
        '-q',
        '-f',
        'qcow2',
        '-F',
        'qcow2',
        '-b',
        head,
        join(dir, `d${i}.qcow2`),
        String(defaultQemuConfig().workingDiskMaxBytes),
      ]);
      times.push(performance.now() - started);
    }
    return times;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const buildStarted = Date.now();
  const base = await testVmBase();
  const cfg = defaultQemuConfig();
  const accel = await chooseAccel({
    mode: 'auto',
    qemuBinary: cfg.qemuBinary,
    firmwareCode: cfg.firmwareCode,
    firmwareVars: cfg.firmwareVars,
    log: silentLogger,
  });
  const rows: Row[] = [];
  const baseSize = (await import('node:fs')).statSync(base.disk).size / 1024 ** 2;
  rows.push({
    metric: `test image base (${base.built ? 'built now' : 'from the cache'})`,
    value: `${base.built ? ((Date.now() - buildStarted) / 1000).toFixed(0) : base.buildSeconds} s to build, ${baseSize.toFixed(0)} MiB qcow2`,
    target: '< 600 s',
    ok: base.buildSeconds < 600,
  });
  const overlay = median(await overlayMs());
  rows.push({
    metric: 'per-job overlay creation (qemu-img create)',
    value: `${overlay.toFixed(0)} ms`,
    target: '<= 100 ms',
    ok: overlay <= 100,
  });
  const kvm = accel.name === 'kvm';
  for (const mode of ['direct', 'uefi'] as const) {
    const r = await jobTimes(mode);
    const ready = median(r.toReady);
    const term = median(r.toTerminated);
    const label = `${r.accel}, ${mode === 'uefi' ? 'UEFI boot from the disk' : 'direct kernel boot'}`;
    rows.push({
      metric: `${label}: enqueue -> ready (median of ${RUNS})`,
      value: `${ready.toFixed(1)} s`,
      target: kvm ? '<= 3 s' : '<= 12 s',
      ok: ready <= (kvm ? 3 : 12),
    });
    rows.push({
      metric: `${label}: terminatejob -> terminated`,
      value: `${term.toFixed(2)} s`,
      target: '<= 3 s',
      ok: term <= 3,
    });
    rows.push({
      metric: `${label}: supervisor RSS with a running VM`,
      value: `${median(r.rss).toFixed(0)} MiB`,
      target: '',
      ok: null,
    });
  }
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  console.log(
    `\n## qemu host (${os.cpus().length} CPUs, ${accel.name.toUpperCase()}: ${accel.reason}; load average ${load})\n`,
  );
  console.log('| metric | value | target | met |');
  console.log('| --- | --- | --- | --- |');
  for (const r of rows)
    console.log(`| ${r.metric} | ${r.value} | ${r.target} | ${r.ok === null ? '-' : r.ok ? 'yes' : 'NO'} |`);
}

main().catch((e: Error) => {
  console.error(`bench/qemu: ${e.message}`);
  process.exit(1);
});
