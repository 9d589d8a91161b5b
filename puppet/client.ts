// The local CLI's side of the daemon's Unix socket.

import net from 'node:net';
import { DEFAULT_PUPPET_SOCKET, PUPPET_SOCKET_ENV } from '../protocol/paths.js';
import { attempt } from '../protocol/validation.js';
import { parseLocalResponse, type LocalRequest, type LocalResponse } from './local-protocol.js';

export class ClientError extends Error {
  constructor(
    message: string,
    /** the daemon refused a report because the supervisor cannot take workload reports */
    readonly unsupported = false,
  ) {
    super(message);
  }
}

export function socketPath(): string {
  return process.env[PUPPET_SOCKET_ENV] || DEFAULT_PUPPET_SOCKET;
}

/** Sends one request to the daemon; throws ClientError with a one-line reason on failure. */
export async function callDaemon(path: string, req: LocalRequest): Promise<LocalResponse & { ok: true }> {
  const response = await new Promise<LocalResponse>((resolve, reject) => {
    const socket = net.connect(path);
    let text = '';
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(req)}\n`));
    socket.on('data', (d: string) => (text += d));
    socket.once('end', () => {
      const parsed = attempt(() => parseLocalResponse(text.trim()));
      resolve(parsed.ok ? parsed.value : { ok: false, error: 'daemon sent an invalid response' });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? 'is the daemon running?'
          : err.code === 'EACCES'
            ? 'permission denied (are you root or in the socket group?)'
            : err.message;
      reject(new ClientError(`cannot reach the puppet daemon at ${path}: ${why}`));
    });
  });
  if (!response.ok) {
    if (response.unsupported) throw new ClientError(response.error, true);
    throw new ClientError(`the puppet daemon refused the request: ${response.error}`);
  }
  return response;
}
