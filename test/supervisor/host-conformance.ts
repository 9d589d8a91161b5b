// What every host backend must do, written once and run against each of them (local, qemu, and any
// later one): the callbacks arrive in the documented order, stop() works at any point and leaves
// nothing behind, an unusable image is a start error, the console arrives complete and in order.
// A backend's test file supplies images whose workload is a given shell script.

import type { ExecutionContext, TestFn } from 'ava';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest } from '../../imagetool/index.js';
import type { PuppetEvent } from '../../protocol/control-socket/messages.js';
import type { Host, HostBackend, HostCallbacks, HostExit, HostSpec } from '../../supervisor/hosts/host.js';

export interface ConformanceImage {
  storeDir: string;
  imageId: string;
  manifest: Manifest;
}

export interface ConformanceSetup {
  backend: HostBackend;
  /** An image whose workload (the boot script, or the VM's workload unit) is this sh script. */
  image(script: string): Promise<ConformanceImage>;
  /** An image this backend must refuse to start. */
  unstartableImage(): Promise<ConformanceImage>;
  /** Shell commands with which the workload ends the machine itself (exit, power off). */
  selfEnd: string;
  /** A scratch directory for job directories. */
  scratch: string;
  /** What of a job is still running or on disk after stop() (processes, files); empty when clean. */
  leftovers(jobId: string, jobDir: string): Promise<string[]>;
  /** Upper bound for a bring-up on this backend. */
  bootTimeoutMs: number;
}

type Recorded =
  | { kind: 'stage'; stage: string }
  | { kind: 'ready' }
  | { kind: 'rebooting' }
  | { kind: 'event'; event: PuppetEvent }
  | { kind: 'start-error'; message: string }
  | { kind: 'exit'; exit: HostExit };

class Recorder {
  readonly log: Recorded[] = [];
  console = '';
  private waiters: Array<{ test: () => boolean; resolve: () => void }> = [];

  readonly callbacks: HostCallbacks = {
    onStage: (stage) => this.add({ kind: 'stage', stage }),
    onReady: () => this.add({ kind: 'ready' }),
    onRebooting: () => this.add({ kind: 'rebooting' }),
    onPuppetEvent: (event) => this.add({ kind: 'event', event }),
    onConsole: (chunk) => {
      this.console += chunk.toString('latin1');
      this.wake();
    },
    onStartError: (message) => this.add({ kind: 'start-error', message }),
    onExit: (exit) => this.add({ kind: 'exit', exit }),
  };

  private add(r: Recorded): void {
    this.log.push(r);
    this.wake();
  }

  private wake(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }

  until(what: string, test: () => boolean, timeoutMs: number): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${what}; saw ${this.kinds().join(', ')}; console tail ${JSON.stringify(this.console.slice(-400))}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  has(kind: Recorded['kind']): boolean {
    return this.log.some((r) => r.kind === kind);
  }

  kinds(): string[] {
    return this.log.map((r) => (r.kind === 'stage' ? r.stage : r.kind === 'event' ? `event:${r.event.type}` : r.kind));
  }
}

let jobCounter = 0;
function jobId(): string {
  jobCounter += 1;
  return `00000000-0000-4000-8000-${String(process.pid).padStart(6, '0')}${String(jobCounter).padStart(6, '0')}`;
}

async function start(setup: ConformanceSetup, image: ConformanceImage, parameters: HostSpec['parameters'] = {}) {
  const id = jobId();
  const jobDir = await mkdtemp(join(setup.scratch, 'job-'));
  const rec = new Recorder();
  const host: Host = setup.backend.start(
    {
      jobId: id,
      imageId: image.imageId,
      manifest: image.manifest,
      storeDir: image.storeDir,
      jobDir,
      sshKeys: [],
      parameters,
    },
    rec.callbacks,
  );
  return { id, jobDir, rec, host };
}

async function assertClean(t: ExecutionContext, setup: ConformanceSetup, id: string, jobDir: string): Promise<void> {
  t.deepEqual(await setup.leftovers(id, jobDir), [], 'nothing of the job is left after stop()');
}

/** Registers the suite's tests (serially: a machine at a time) for one backend. */
export function hostConformance(test: TestFn, name: string, setup: () => ConformanceSetup | null): void {
  const s = () => {
    const value = setup();
    if (value === null) throw new Error('the conformance setup is not ready');
    return value;
  };

  test.serial(
    `${name} conformance: a host comes up in order, relays puppet events and reports that it ended`,
    async (t) => {
      const setup = s();
      t.timeout(setup.bootTimeoutMs * 2);
      const image = await setup.image(
        `#!/bin/sh\ntml-puppet job substate working\ntml-puppet job finish --status success --output done\n${setup.selfEnd}\n`,
      );
      const { id, jobDir, rec, host } = await start(setup, image);
      await rec.until('the host to end', () => rec.has('exit') || rec.has('start-error'), setup.bootTimeoutMs * 2);
      const kinds = rec.kinds();
      t.deepEqual(kinds.slice(0, 3), ['provisioning', 'booting', 'ready']);
      t.true(kinds.indexOf('event:reportsubstate') > kinds.indexOf('ready'));
      t.true(kinds.indexOf('event:declareworkloadexitstatus') > kinds.indexOf('event:reportsubstate'));
      t.is(kinds[kinds.length - 1], 'exit', 'the end comes last');
      const substate = rec.log.find((r) => r.kind === 'event' && r.event.type === 'reportsubstate');
      t.like(substate, { event: { substate: 'working' } });
      await host.stop();
      await assertClean(t, setup, id, jobDir);
    },
  );

  test.serial(`${name} conformance: stop during bring-up ends the host and nothing is reported after it`, async (t) => {
    const setup = s();
    t.timeout(setup.bootTimeoutMs);
    const image = await setup.image('#!/bin/sh\nsleep 1000\n');
    const { id, jobDir, rec, host } = await start(setup, image);
    await rec.until('booting', () => rec.kinds().includes('booting'), setup.bootTimeoutMs);
    await host.stop();
    const seen = rec.log.length;
    await new Promise((r) => setTimeout(r, 300));
    t.is(rec.log.length, seen, 'no callback after stop() resolved');
    t.false(rec.has('exit'));
    t.false(rec.has('start-error'));
    await assertClean(t, setup, id, jobDir);
  });

  test.serial(`${name} conformance: stop while the workload runs shuts the host down`, async (t) => {
    const setup = s();
    t.timeout(setup.bootTimeoutMs * 2);
    const image = await setup.image('#!/bin/sh\ntml-puppet job substate sleeping\nsleep 1000\n');
    const { id, jobDir, rec, host } = await start(setup, image);
    await rec.until('the substate', () => rec.kinds().includes('event:reportsubstate'), setup.bootTimeoutMs);
    await host.stop('graceful');
    t.false(rec.has('exit'), 'a stopped host does not report an exit of its own');
    await assertClean(t, setup, id, jobDir);
  });

  test.serial(`${name} conformance: an image the backend cannot run is a start error`, async (t) => {
    const setup = s();
    t.timeout(setup.bootTimeoutMs);
    const { id, jobDir, rec, host } = await start(setup, await setup.unstartableImage());
    await rec.until('a start error', () => rec.has('start-error') || rec.has('ready'), setup.bootTimeoutMs);
    const error = rec.log.find((r) => r.kind === 'start-error');
    t.truthy(error, 'a start error is reported');
    t.false(rec.has('ready'));
    if (error?.kind === 'start-error') {
      t.regex(error.message, /\S/);
      t.false(error.message.includes('\n'), 'the message is one line');
    }
    await host.stop('immediate');
    await assertClean(t, setup, id, jobDir);
  });

  test.serial(`${name} conformance: the workload's console output arrives complete and in order`, async (t) => {
    const setup = s();
    t.timeout(setup.bootTimeoutMs * 2);
    const image = await setup.image(
      `#!/bin/sh\ni=1\nwhile [ $i -le 300 ]; do echo "conformance line $i"; i=$((i + 1)); done\n${setup.selfEnd}\n`,
    );
    const { id, jobDir, rec, host } = await start(setup, image);
    await rec.until('the host to end', () => rec.has('exit') || rec.has('start-error'), setup.bootTimeoutMs * 2);
    const numbers = [...rec.console.matchAll(/conformance line (\d+)/g)].map((m) => Number(m[1]));
    t.deepEqual(
      numbers,
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    await host.stop();
    await assertClean(t, setup, id, jobDir);
  });
}
