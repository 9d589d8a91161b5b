// `tml-puppet host info`: what a hardware-CI user checks first when a board is not found.
// Every section is optional: containers and minimal images lack much of what systeminformation
// probes, and a missing section must not hide the others.

import type { Systeminformation } from 'systeminformation';

export interface HostInfo {
  os: { platform: string; distro: string; release: string; kernel: string; arch: string; hostname: string } | null;
  cpu: { manufacturer: string; brand: string; cores: number; physicalCores: number; speedGHz: number } | null;
  memory: { totalBytes: number; availableBytes: number } | null;
  network: Array<{ name: string; mac: string; ipv4: string; ipv6: string; state: string }> | null;
  usb: Array<{
    bus: number;
    device: number;
    name: string;
    vendor: string;
    manufacturer: string;
    serial: string;
  }> | null;
  errors: string[];
}

const SECTION_TIMEOUT_MS = 5000;

async function section<T>(name: string, errors: string[], f: () => Promise<T>): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      f(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${SECTION_TIMEOUT_MS / 1000} s`)),
          SECTION_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (e) {
    errors.push(`${name}: ${(e as Error).message}`);
    return null;
  } finally {
    clearTimeout(timer);
  }
}

export async function collectHostInfo(): Promise<HostInfo> {
  // loaded on demand: the daemon and the other commands never pay for it
  const si = (await import('systeminformation')).default;
  const errors: string[] = [];
  const [os, cpu, memory, network, usb] = await Promise.all([
    section('os', errors, async () => {
      const o = await si.osInfo();
      return {
        platform: o.platform,
        distro: o.distro,
        release: o.release,
        kernel: o.kernel,
        arch: o.arch,
        hostname: o.hostname,
      };
    }),
    section('cpu', errors, async () => {
      const c = await si.cpu();
      return {
        manufacturer: c.manufacturer,
        brand: c.brand,
        cores: c.cores,
        physicalCores: c.physicalCores,
        speedGHz: c.speed,
      };
    }),
    section('memory', errors, async () => {
      const m = await si.mem();
      return { totalBytes: m.total, availableBytes: m.available };
    }),
    section('network', errors, async () => {
      const list = (await si.networkInterfaces()) as Systeminformation.NetworkInterfacesData[];
      return list.map((n) => ({ name: n.iface, mac: n.mac, ipv4: n.ip4, ipv6: n.ip6, state: n.operstate }));
    }),
    section('usb', errors, async () =>
      (await si.usb()).map((u) => ({
        bus: u.bus,
        device: u.deviceId,
        name: u.name,
        vendor: u.vendor,
        manufacturer: u.manufacturer,
        serial: u.serialNumber,
      })),
    ),
  ]);
  return { os, cpu, memory, network, usb, errors };
}

const MiB = 1024 * 1024;

export function formatHostInfo(h: HostInfo): string {
  const lines: string[] = [];
  const na = (what: string) => lines.push(`${what}: unavailable`);
  if (h.os)
    lines.push(
      `OS: ${h.os.distro} ${h.os.release} (${h.os.platform} ${h.os.kernel}, ${h.os.arch}), hostname ${h.os.hostname}`,
    );
  else na('OS');
  if (h.cpu)
    lines.push(
      `CPU: ${h.cpu.manufacturer} ${h.cpu.brand}, ${h.cpu.physicalCores} cores / ${h.cpu.cores} threads${h.cpu.speedGHz ? `, ${h.cpu.speedGHz} GHz` : ''}`,
    );
  else na('CPU');
  if (h.memory)
    lines.push(
      `Memory: ${Math.round(h.memory.totalBytes / MiB)} MiB total, ${Math.round(h.memory.availableBytes / MiB)} MiB available`,
    );
  else na('Memory');
  if (h.network) {
    lines.push(`Network interfaces (${h.network.length}):`);
    for (const n of h.network) {
      const addrs = [n.ipv4, n.ipv6].filter((a) => a).join(' ') || 'no address';
      lines.push(`  ${n.name} ${n.state} ${n.mac || '-'} ${addrs}`);
    }
  } else na('Network interfaces');
  if (h.usb) {
    lines.push(`USB devices (${h.usb.length}):`);
    for (const u of h.usb) {
      const who = [u.manufacturer || u.vendor, u.name].filter((x) => x).join(' ');
      lines.push(
        `  bus ${u.bus} device ${u.device}: ${who || 'unknown device'}${u.serial ? ` (serial ${u.serial})` : ''}`,
      );
    }
  } else na('USB devices');
  for (const e of h.errors) lines.push(`note: ${e}`);
  return `${lines.join('\n')}\n`;
}
