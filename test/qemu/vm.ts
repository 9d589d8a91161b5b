// What the VM tests share: the tools they need (a missing one skips the file loudly, or fails it
// under TML_TEST_REQUIRE_ALL=1), the cached test image, and a lock that runs VM test files one at a
// time (they share two cores with the rest of the suite).

import type { TestFn } from 'ava';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { testVmBase, type TestVmBase } from '../../scripts/test-vm-image.js';
import { processesMentioning } from '../supervisor/local-fixtures.js';

const TOOLS: Array<{ tool: string; pkg: string }> = [
  { tool: 'qemu-system-x86_64', pkg: 'qemu-system-x86' },
  { tool: 'qemu-img', pkg: 'qemu-utils' },
  { tool: 'qemu-io', pkg: 'qemu-utils' },
  { tool: '/usr/share/OVMF/OVMF_CODE_4M.fd', pkg: 'ovmf' },
  { tool: 'busybox', pkg: 'busybox-static' },
  { tool: 'sfdisk', pkg: 'fdisk' },
  { tool: 'mcopy', pkg: 'mtools' },
  { tool: 'mkfs.fat', pkg: 'dosfstools' },
  { tool: 'mkfs.ext4', pkg: 'e2fsprogs' },
  { tool: 'objcopy', pkg: 'binutils' },
  { tool: 'cpio', pkg: 'cpio' },
  { tool: 'ssh', pkg: 'openssh-client' },
  { tool: 'ssh-keygen', pkg: 'openssh-client' },
];

function found(tool: string): boolean {
  const candidates = tool.startsWith('/')
    ? [tool]
    : [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'].map((d) => join(d, tool));
  return candidates.some((c) => {
    try {
      accessSync(c, tool.startsWith('/') ? constants.R_OK : constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function missingVmTool(): { tool: string; pkg: string } | null {
  if (process.getuid?.() !== 0) return { tool: 'root (the image build records file owners)', pkg: 'run as root' };
  return TOOLS.find((t) => !found(t.tool)) ?? null;
}

/**
 * True when the VM tests can run. Otherwise registers one test that fails under
 * TML_TEST_REQUIRE_ALL=1, or is skipped after one loud line naming the tool and its package.
 */
export function vmTestsCanRun(test: TestFn, what: string): boolean {
  const missing = missingVmTool();
  if (missing === null) return true;
  const line = `${what} need ${missing.tool} (apt-get install ${missing.pkg})`;
  if (process.env.TML_TEST_REQUIRE_ALL === '1') {
    test(`${what}: required tools are present`, (t) => t.fail(`${line}; TML_TEST_REQUIRE_ALL=1 forbids skipping`));
  } else {
    console.error(`SKIPPED: ${line}`);
    test.skip(`${what}: skipped, ${line}`, () => {});
  }
  return false;
}

let base: Promise<TestVmBase> | null = null;

/** The test image's base, built once per machine (cached) and shared by the files of a run. */
export function sharedBase(): Promise<TestVmBase> {
  base ??= testVmBase();
  return base;
}

const LOCK = join(tmpdir(), 'tml-vm-tests.lock');

/** Waits until no other VM test file runs; returns the release function. */
export async function vmLock(): Promise<() => void> {
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'pid'), String(process.pid));
      return () => rmSync(LOCK, { recursive: true, force: true });
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(LOCK, 'pid'), 'utf8'));
      } catch {
        // being created or removed right now
      }
      let ownerAlive = false;
      try {
        if (owner > 0) ownerAlive = (process.kill(owner, 0), true);
      } catch {
        ownerAlive = false;
      }
      if (owner > 0 && !ownerAlive) rmSync(LOCK, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** QEMU processes of a job (their command line names it) and its state directory, if any remain. */
export function jobLeftovers(stateDir: string, jobId: string): string[] {
  const left = processesMentioning(`tml-${jobId}`).map((pid) => `process ${pid}`);
  try {
    accessSync(join(stateDir, 'jobs', jobId));
    left.push(`directory ${join(stateDir, 'jobs', jobId)}`);
  } catch {
    // removed, as it should be
  }
  return left;
}

/** A fresh SSH key pair; returns the private key's path and the public key line. */
export function sshKeyPair(dir: string): { key: string; publicKey: string } {
  const key = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tml-test', '-f', key]);
  return { key, publicKey: readFileSync(`${key}.pub`, 'utf8').trim() };
}
