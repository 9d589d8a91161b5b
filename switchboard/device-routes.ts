// The device-login endpoints (RFC 8628 §3.1 and §3.4), outside the API's bearer-token hook: a
// client has no token yet. Bodies may be JSON or form-encoded, as the RFC's clients send them;
// answers are the RFC's JSON, errors `{"error","error_description"}`.

import fastifyFormbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  DEVICE_CODE_PATH,
  DEVICE_ERROR_STATUS,
  DEVICE_PAGE_PATH,
  DEVICE_TOKEN_PATH,
  UnsupportedGrantError,
  parseDeviceCodeRequest,
  parseDeviceTokenRequest,
  type DeviceCodeResponse,
  type DeviceErrorBody,
  type DeviceErrorCode,
  type DeviceTokenResponse,
} from '../protocol/device-flow.js';
import { ValidationError } from '../protocol/validation.js';
import type { DeviceAuthorizations } from './device-flow.js';
import type { Logger } from '../protocol/log.js';
import { retryAfterSeconds, waitText } from './login-limits.js';

export interface DeviceRouteOptions {
  devices: DeviceAuthorizations;
  /** A new API token for the user who approved; expiresAt in ms. */
  issueToken: (userId: string) => Promise<{ token: string; expiresAt: number }>;
  log: Logger;
}

class DeviceError extends Error {
  constructor(
    readonly code: DeviceErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export async function deviceRoutes(app: FastifyInstance, opts: DeviceRouteOptions): Promise<void> {
  const { devices, log } = opts;
  await app.register(fastifyFormbody, { bodyLimit: 16 * 1024 });

  const noStore = (reply: FastifyReply) => reply.header('cache-control', 'no-store').header('pragma', 'no-cache');

  app.setErrorHandler(async (err: Error & { statusCode?: number }, req, reply) => {
    let body: DeviceErrorBody;
    if (err instanceof DeviceError) body = { error: err.code, error_description: err.message };
    else if (err instanceof UnsupportedGrantError)
      body = { error: 'unsupported_grant_type', error_description: err.message };
    else if (err instanceof ValidationError || (err.statusCode !== undefined && err.statusCode < 500))
      body = { error: 'invalid_request', error_description: err.message };
    else {
      log.error(`${req.method} ${req.url.split('?')[0]} failed: ${err.stack ?? err.message}`);
      body = { error: 'server_error', error_description: 'internal server error' };
    }
    return noStore(reply).status(DEVICE_ERROR_STATUS[body.error]).send(body);
  });

  app.post(DEVICE_CODE_PATH, async (req, reply): Promise<DeviceCodeResponse> => {
    const { client_id } = parseDeviceCodeRequest(req.body);
    const r = devices.start(client_id, req.ip);
    if (!r.ok) {
      reply.header('retry-after', String(retryAfterSeconds(r.retryAfterMs)));
      throw new DeviceError(
        'too_many_requests',
        `too many login codes asked for; try again in ${waitText(r.retryAfterMs)}`,
      );
    }
    log.info(`device login: code ${r.userCode} for ${JSON.stringify(client_id)} from ${req.ip}`);
    const base = `${req.protocol}://${req.host}`;
    noStore(reply);
    return {
      device_code: r.deviceCode,
      user_code: r.userCode,
      verification_uri: `${base}${DEVICE_PAGE_PATH}`,
      verification_uri_complete: `${base}${DEVICE_PAGE_PATH}?code=${r.userCode}`,
      expires_in: Math.round((r.expiresAt - Date.now()) / 1000),
      interval: Math.ceil(r.intervalMs / 1000),
    };
  });

  app.post(DEVICE_TOKEN_PATH, async (req, reply): Promise<DeviceTokenResponse> => {
    const { device_code } = parseDeviceTokenRequest(req.body);
    const r = devices.poll(device_code);
    switch (r.kind) {
      case 'pending':
        throw new DeviceError('authorization_pending', 'the code has not been approved yet');
      case 'slow_down':
        throw new DeviceError('slow_down', 'polled too soon: wait 5 seconds longer between polls');
      case 'denied':
        throw new DeviceError('access_denied', 'the login was denied');
      case 'expired':
        throw new DeviceError('expired_token', 'the code expired before it was approved; start again');
      case 'invalid':
        throw new DeviceError('invalid_grant', 'no such code, or its token was already handed out');
    }
    const { token, expiresAt } = await opts.issueToken(r.user.id);
    log.info(`device login: user ${r.user.name} logged in from ${req.ip}`);
    noStore(reply);
    return {
      access_token: token,
      token_type: 'Bearer',
      expires_in: Math.max(1, Math.round((expiresAt - Date.now()) / 1000)),
      expires_at: new Date(expiresAt).toISOString(),
      user: r.user.name,
    };
  });
}
