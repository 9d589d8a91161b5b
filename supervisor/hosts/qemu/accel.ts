// KVM or TCG. A usable /dev/kvm is not enough: on some machines (nested virtualisation) QEMU starts
// under KVM, yet guests stop at their first x87/SSE instructions ("KVM internal error ... emulation
// failure", or a Linux kernel hanging right after "Probing EDD"). So the probe boots a guest, the
// UEFI firmware itself (a 64-bit guest that sets up paging and the FPU, like a kernel), and takes KVM
// only if the firmware gets as far as its boot manager.

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../../protocol/log.js';
import type { Accel } from './config.js';

export interface AccelChoice {
  name: 'kvm' | 'tcg';
  /** Values of the `{accel}` and `{cpu}` template variables. */
  accel: string;
  cpu: string;
  reason: string;
}

export const TCG: Omit<AccelChoice, 'reason'> = { name: 'tcg', accel: 'tcg,thread=multi', cpu: 'max' };

/** What the firmware prints once it is up; reaching it means the guest ran under this accelerator. */
const FIRMWARE_UP = /BdsDxe|UEFI Interactive Shell|Shell>/;

export interface ProbeOptions {
  mode: Accel;
  qemuBinary: string;
  firmwareCode: string;
  firmwareVars: string;
  timeoutMs?: number;
  log: Logger;
  kvmDevice?: string;
}

/** Boots the firmware under KVM with one CPU model; resolves with null on success, else the reason. */
export async function bootFirmware(
  opts: Pick<ProbeOptions, 'qemuBinary' | 'firmwareCode' | 'firmwareVars'>,
  accel: string,
  cpu: string,
  timeoutMs: number,
): Promise<string | null> {
  const dir = await mkdtemp(join(tmpdir(), 'tml-accel-probe-'));
  try {
    const vars = join(dir, 'vars.fd');
    await copyFile(opts.firmwareVars, vars);
    // prettier-ignore
    const args = [
      '-accel', accel, '-cpu', cpu, '-machine', 'q35', '-m', '256', '-nodefaults', '-display', 'none',
      '-serial', 'stdio', '-no-reboot',
      '-drive', `if=pflash,format=raw,readonly=on,file=${opts.firmwareCode}`,
      '-drive', `if=pflash,format=raw,file=${vars}`,
    ];
    const child = spawn(opts.qemuBinary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    return await new Promise<string | null>((resolve) => {
      let out = '';
      let err = '';
      const done = (result: string | null) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve(result);
      };
      const timer = setTimeout(
        () => done(`the firmware did not come up within ${timeoutMs / 1000} s${err ? `: ${lastLine(err)}` : ''}`),
        timeoutMs,
      );
      child.stdout.on('data', (chunk: Buffer) => {
        out = (out + chunk.toString('latin1')).slice(-4096);
        if (FIRMWARE_UP.test(out)) done(null);
      });
      child.stderr.on('data', (chunk: Buffer) => {
        err = (err + chunk.toString('latin1')).slice(-4096);
        if (/KVM internal error/.test(err))
          done(`KVM internal error${/emulation failure/.test(err) ? ' (emulation failure)' : ''} in the firmware`);
      });
      child.once('error', (e) => done(`cannot run ${opts.qemuBinary}: ${e.message}`));
      child.once('exit', (code, signal) =>
        done(`QEMU exited (${signal ?? `code ${code}`})${err ? `: ${lastLine(err)}` : ''}`),
      );
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1]!.trim().slice(0, 200);
}

export async function chooseAccel(opts: ProbeOptions): Promise<AccelChoice> {
  if (opts.mode === 'tcg') return { ...TCG, reason: 'accel = tcg in the configuration' };
  if (opts.mode === 'kvm')
    return { name: 'kvm', accel: 'kvm', cpu: 'host', reason: 'accel = kvm in the configuration' };
  const device = opts.kvmDevice ?? '/dev/kvm';
  try {
    await access(device, constants.R_OK | constants.W_OK);
  } catch {
    return { ...TCG, reason: `${device} is missing or not accessible` };
  }
  try {
    await access(opts.firmwareCode, constants.R_OK);
    await access(opts.firmwareVars, constants.R_OK);
  } catch {
    return { ...TCG, reason: `no firmware to probe KVM with (${opts.firmwareCode}; apt-get install ovmf)` };
  }
  const reasons: string[] = [];
  // Plain `host` fails on some nested hosts ("failed to set MSR 0x10a"); without arch-capabilities it starts.
  for (const cpu of ['host', 'host,-arch-capabilities']) {
    const failure = await bootFirmware(opts, 'kvm', cpu, opts.timeoutMs ?? 15_000);
    if (failure === null)
      return { name: 'kvm', accel: 'kvm', cpu, reason: `a guest booted under KVM with -cpu ${cpu}` };
    reasons.push(`-cpu ${cpu}: ${failure}`);
  }
  return { ...TCG, reason: `no guest booted under KVM (${reasons.join('; ')})` };
}
