// QEMU's command line: the built-in default, the templating of `qemu_args` (upstream's strfmt syntax:
// `{name}` is a variable, `{{` and `}}` are literal braces), and the start script's
// `tml-set-variable:KEY=VALUE` lines. Pure functions; the backend supplies the values.

import { FW_CFG_CONTROL_SOCKET_NAME } from '../../../protocol/paths.js';

export type Variables = Record<string, string>;

export class TemplateError extends Error {}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Fills one template; an unknown variable or an unbalanced brace is a TemplateError. */
export function renderTemplate(template: string, vars: Variables): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c === '{' && template[i + 1] === '{') {
      out += '{';
      i += 2;
    } else if (c === '}' && template[i + 1] === '}') {
      out += '}';
      i += 2;
    } else if (c === '{') {
      const end = template.indexOf('}', i + 1);
      if (end < 0) throw new TemplateError(`unclosed "{" in ${JSON.stringify(template)}`);
      const name = template.slice(i + 1, end);
      if (!NAME_RE.test(name)) throw new TemplateError(`bad variable name {${name}} in ${JSON.stringify(template)}`);
      if (!Object.hasOwn(vars, name)) {
        throw new TemplateError(`unknown variable {${name}} (known: ${Object.keys(vars).sort().join(', ')})`);
      }
      out += vars[name];
      i = end + 1;
    } else if (c === '}') {
      throw new TemplateError(`unmatched "}" in ${JSON.stringify(template)}`);
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

export function renderArgs(templates: readonly string[], vars: Variables): string[] {
  return templates.map((t, i) => {
    try {
      return renderTemplate(t, vars);
    } catch (err) {
      throw new TemplateError(`qemu_args[${i}]: ${(err as Error).message}`);
    }
  });
}

export interface StartScriptVariables {
  vars: Variables;
  /** Lines that start with the prefix but are not KEY=VALUE with a valid key. */
  malformed: string[];
}

/** The `tml-set-variable:KEY=VALUE` lines of a start script's stdout; later lines win. */
export function parseStartScriptOutput(stdout: string): StartScriptVariables {
  const vars: Variables = {};
  const malformed: string[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    if (!line.startsWith('tml-set-variable:')) continue;
    const rest = line.slice('tml-set-variable:'.length);
    const eq = rest.indexOf('=');
    const key = eq < 0 ? '' : rest.slice(0, eq);
    if (!NAME_RE.test(key)) {
      malformed.push(line.slice(0, 200));
      continue;
    }
    vars[key] = rest.slice(eq + 1);
  }
  return { vars, malformed };
}

export interface DefaultArgsOptions {
  /** Boot through UEFI firmware from the disk (pflash drives), else the image's kernel directly. */
  boot: 'uefi' | 'direct';
  sshForward: boolean;
}

/**
 * The built-in command line: upstream's example (q35, UEFI pflash, virtio-scsi disk, user-mode
 * network, the control socket in fw_cfg) with the serial console on stdout for the supervisor to
 * stream, the accelerator from the probe and a free SSH forward port. Every entry is a template.
 */
export function defaultQemuArgs(opts: DefaultArgsOptions): string[] {
  const firmware =
    opts.boot === 'uefi'
      ? [
          '-drive',
          'if=pflash,format=raw,readonly=on,file={firmware_code}',
          '-drive',
          'if=pflash,format=raw,file={job_workdir}/OVMF_VARS.fd',
        ]
      : ['-kernel', '{kernel}', '-initrd', '{initrd}', '-append', '{kernel_cmdline}'];
  const netdev = opts.sshForward ? 'user,id=net0,hostfwd=tcp:{ssh_host}:0-:22' : 'user,id=net0';
  return [
    '-name',
    'tml-{job_id}',
    '-machine',
    'q35',
    '-accel',
    '{accel}',
    '-cpu',
    '{cpu}',
    '-smp',
    '{cpus}',
    '-m',
    '{memory_mib}M',
    '-nodefaults',
    '-display',
    'none',
    '-serial',
    'stdio',
    ...firmware,
    '-device',
    'virtio-scsi-pci,id=scsi0',
    '-drive',
    'file={main_disk_image},id=drive0,format=qcow2,if=none,discard=unmap',
    '-device',
    'scsi-hd,drive=drive0,bus=scsi0.0',
    '-netdev',
    netdev,
    '-device',
    'virtio-net-pci,id=nic0,netdev=net0',
    '-fw_cfg',
    `name=${FW_CFG_CONTROL_SOCKET_NAME},string={guest_control_socket_addr}`,
  ];
}

/** The QMP socket the backend always adds (it needs it to ask for power-off and to see resets). */
export function qmpArgs(socketPath: string): string[] {
  return ['-qmp', `unix:${socketPath},server=on,wait=off`];
}

/** The SSH forward's host port from QMP's `info usernet` (the guest's port 22); null if none. */
export function sshForwardPort(infoUsernet: string): number | null {
  for (const line of infoUsernet.split(/\r?\n/)) {
    const m = /^\s*TCP\[HOST_FORWARD\]\s+\d+\s+(\S+)\s+(\d+)\s+(\S+)\s+22\b/.exec(line);
    if (m) return Number(m[2]);
  }
  return null;
}
