// The web console's side of device login: the page for a code, and its approve and deny forms.
// Wrong codes count as failures per user and address (the login limits' bookkeeping), so codes
// cannot be guessed from a session.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DeviceAuthorizations } from '../device-flow.js';
import type { Logger } from '../../protocol/log.js';
import { limitMessage, retryAfterSeconds, type LoginLimits } from '../login-limits.js';
import type { WebUser } from './data.js';
import type { SafeHtml } from './html.js';
import { deviceCodeForm, deviceConfirmPage, deviceDonePage } from './views/device.js';
import type { PageFrame } from './views/layout.js';

export interface DevicePageDeps {
  devices: DeviceAuthorizations;
  /** Counts wrong codes, keyed by the user's name and the address. */
  codeLimits: LoginLimits;
  log: Logger;
  userOf: (req: FastifyRequest) => WebUser;
  frame: (req: FastifyRequest, reply: FastifyReply) => PageFrame;
  send: (reply: FastifyReply, page: SafeHtml, status?: number) => FastifyReply;
}

class DevicePageError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const UNKNOWN = 'No login is waiting under that code: it may have expired or been used. Start again in your terminal.';

export function registerDevicePages(app: FastifyInstance, deps: DevicePageDeps): void {
  const { devices, codeLimits, log, userOf, frame, send } = deps;

  const codeOf = (value: unknown): string => {
    if (typeof value !== 'string' || value.length > 64) throw new DevicePageError(400, 'the form has no code');
    return value;
  };

  /** Refuses a user (or address) that has entered too many wrong codes. */
  const checkLimit = (req: FastifyRequest, reply: FastifyReply, user: WebUser) => {
    const limit = codeLimits.check(user.name, req.ip);
    if (limit.ok) return;
    reply.header('retry-after', String(retryAfterSeconds(limit.retryAfterMs)));
    throw new DevicePageError(429, limitMessage(limit).replace('failed logins', 'wrong device codes'));
  };

  app.get<{ Querystring: { code?: unknown } }>('/device', async (req, reply) => {
    const user = userOf(req);
    if (req.query.code === undefined) return send(reply, deviceCodeForm(frame(req, reply), null));
    const typed = codeOf(req.query.code);
    checkLimit(req, reply, user);
    const request = devices.request(typed);
    if (!request) {
      codeLimits.failed(user.name, req.ip);
      return send(reply, deviceCodeForm(frame(req, reply), UNKNOWN, typed), 404);
    }
    return send(reply, deviceConfirmPage(frame(req, reply), request));
  });

  for (const action of ['approve', 'deny'] as const) {
    app.post(`/device/${action}`, { preHandler: app.csrfProtection }, async (req, reply) => {
      const user = userOf(req);
      const typed = codeOf((req.body as Record<string, unknown> | undefined)?.code);
      checkLimit(req, reply, user);
      const request = devices.request(typed);
      const done =
        request !== null &&
        (action === 'approve' ? devices.approve(typed, { id: user.id, name: user.name }) : devices.deny(typed));
      if (!done) {
        codeLimits.failed(user.name, req.ip);
        return send(reply, deviceCodeForm(frame(req, reply), UNKNOWN), 404);
      }
      log.info(
        `web console: user ${user.name} ${action === 'approve' ? 'approved' : 'denied'} device login ${request.userCode} for ${JSON.stringify(request.clientId)} from ${request.address}`,
      );
      return send(reply, deviceDonePage(frame(req, reply), action === 'approve'));
    });
  }
}
