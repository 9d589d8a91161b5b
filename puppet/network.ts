// `--network-config-script`: hand the supervisor's network configuration to a host script.

import { spawn } from 'node:child_process';
import type { IpConfig, SupervisorResp } from '../protocol/control-socket/messages.js';

export type NetworkConfigResp = Extract<SupervisorResp, { type: 'networkconfig' }>;

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

/**
 * Why the script cannot be given this configuration, or null. An environment variable cannot
 * hold a NUL byte (the kernel would cut it there, and Node refuses it outright).
 */
export function networkConfigProblem(config: NetworkConfigResp): string | null {
  for (const [name, value] of Object.entries(networkEnvironment(config))) {
    if (value.includes('\0')) return `the network configuration from the supervisor holds a NUL byte in ${name}`;
  }
  return null;
}

/** Runs the script; resolves with null on success or a one-line error. Its output goes to our stderr. */
export function runNetworkConfigScript(script: string, config: NetworkConfigResp): Promise<string | null> {
  const problem = networkConfigProblem(config);
  if (problem !== null) return Promise.resolve(`${problem}; ${script} not run`);
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(script, [], {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, ...networkEnvironment(config) },
      });
    } catch (e) {
      resolve(`network config script ${script} could not start: ${(e as Error).message}`);
      return;
    }
    child.once('error', (err) => resolve(`network config script ${script} could not start: ${err.message}`));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(null);
      else
        resolve(`network config script ${script} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`);
    });
  });
}
