// `tml login --device`: the client side of RFC 8628. Asks the switchboard for a code, shows the
// user where to approve it, and polls at the pace the switchboard sets until the token comes, the
// user denies it or the code expires. Pure over its transport, clock and sleep, so it is tested
// without a network or real time.

import {
  DEVICE_CODE_PATH,
  DEVICE_GRANT_TYPE,
  DEVICE_TOKEN_PATH,
  deviceErrorOf,
  parseDeviceCodeResponse,
  parseDeviceTokenResponse,
  type DeviceCodeResponse,
  type DeviceTokenResponse,
} from '../protocol/device-flow.js';
import { attempt } from '../protocol/validation.js';
import { BadAnswerError } from './errors.js';

export interface DeviceLoginDeps {
  /** Base URL of the switchboard, for messages. */
  url: string;
  /** What this client calls itself on the approval page. */
  clientId: string;
  post(path: string, body: unknown): Promise<{ status: number; body: unknown }>;
  sleep(ms: number): Promise<void>;
  now(): number;
  /** Tells the user where to go and which code to check. */
  show(code: DeviceCodeResponse): void;
}

/** A device login that ended without a token; the message says why and what to do. */
export class DeviceLoginError extends Error {
  override name = 'DeviceLoginError';
}

/** RFC 8628 §3.5: after slow_down, 5 seconds more between polls from then on. */
const SLOW_DOWN_MS = 5000;

export async function deviceLogin(deps: DeviceLoginDeps): Promise<DeviceTokenResponse> {
  const started = await deps.post(DEVICE_CODE_PATH, { client_id: deps.clientId });
  if (started.status === 404) {
    throw new DeviceLoginError(
      `${deps.url} has no device login (it needs a switchboard of this project with its web console on)`,
    );
  }
  if (started.status !== 200) throw new DeviceLoginError(`${deps.url} refused a login code: ${why(started)}`);
  const code = attempt(() => parseDeviceCodeResponse(started.body));
  if (!code.ok)
    throw new BadAnswerError(`unexpected answer from ${deps.url}${DEVICE_CODE_PATH}: ${code.error.message}`);
  deps.show(code.value);
  const { device_code } = code.value;
  const deadline = deps.now() + code.value.expires_in * 1000;
  let intervalMs = code.value.interval * 1000;
  for (;;) {
    await deps.sleep(intervalMs);
    const r = await deps.post(DEVICE_TOKEN_PATH, {
      grant_type: DEVICE_GRANT_TYPE,
      device_code,
      client_id: deps.clientId,
    });
    if (r.status === 200) {
      const token = attempt(() => parseDeviceTokenResponse(r.body));
      if (!token.ok) {
        throw new BadAnswerError(`unexpected answer from ${deps.url}${DEVICE_TOKEN_PATH}: ${token.error.message}`);
      }
      return token.value;
    }
    switch (deviceErrorOf(r.body)?.error) {
      case 'authorization_pending':
        // The switchboard says expired_token at the deadline; this only stops a client it never tells.
        if (deps.now() > deadline + intervalMs) throw expired();
        continue;
      case 'slow_down':
        intervalMs += SLOW_DOWN_MS;
        continue;
      case 'access_denied':
        throw new DeviceLoginError('the login was denied on the web console');
      case 'expired_token':
        throw expired();
      default:
        throw new DeviceLoginError(`${deps.url} refused the login: ${why(r)}`);
    }
  }
}

const expired = () => new DeviceLoginError('the code expired before it was approved; run tml login --device again');

function why(r: { status: number; body: unknown }): string {
  const e = deviceErrorOf(r.body);
  if (e) return e.error_description === '' ? e.error : `${e.error}: ${e.error_description}`;
  return `HTTP ${r.status}`;
}
