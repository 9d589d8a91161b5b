// `--network-config-script`: hand the supervisor's network configuration to a host script.

import { spawn } from 'node:child_process';
import type { IpConfig, SupervisorResp } from '../protocol/control-socket/messages.js';

type NetworkConfigResp = Extract<SupervisorResp, { type: 'networkconfig' }>;

/** The variables the spec gives the script (only those present). */
export function networkEnvironment(config: NetworkConfigResp): Record<string, string> {
  const env: Record<string, string> = { HOSTNAME: config.hostname };
  if (config.interface !== null) env['INTERFACE'] = config.interface;
  const ip = (prefix: string, c: IpConfig | null) => {
    if (c === null) return;
    env[`${prefix}_ADDRESS`] = c.address;
    env[`${prefix}_PREFIX_LENGTH`] = String(c.prefix_length);
    if (c.gateway !== null) env[`${prefix}_GATEWAY`] = c.gateway;
    env[`${prefix}_NAMESERVERS`] = c.nameservers.join('|');
  };
  ip('IPV4', config.ipv4);
  ip('IPV6', config.ipv6);
  return env;
}

/** Runs the script; resolves with null on success or a one-line error. Its output goes to our stderr. */
export function runNetworkConfigScript(script: string, config: NetworkConfigResp): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(script, [], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, ...networkEnvironment(config) },
    });
    child.once('error', (err) => resolve(`network config script ${script} could not start: ${err.message}`));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(null);
      else
        resolve(`network config script ${script} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`);
    });
  });
}
