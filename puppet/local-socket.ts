// The daemon's Unix socket for the local CLI: mode 0660, optionally owned by a group, so only
// root and that group may report for the job.

import { promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../protocol/log.js';
import { attempt } from '../protocol/validation.js';
import { parseLocalRequest, type LocalRequest, type LocalResponse } from './local-protocol.js';

// Requests are tiny except `finish` with output, which the daemon refuses beyond the 8 MiB frame
// limit itself: the line gets room for that much output and its JSON escaping.
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
/** Clients served at once; more are answered with an error and closed. */
export const MAX_LOCAL_CLIENTS = 32;
/** Bytes of unfinished requests held for all clients together: memory does not grow with what clients send. */
const MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
/** A client must send its whole request line within this time of connecting. */
export const REQUEST_DEADLINE_MS = 10_000;

/** Resolves a group name or numeric id to a gid via /etc/group (Node has no getgrnam). */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    // fall through to the error below
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new Error(`unknown group ${JSON.stringify(group)}`);
}

export type LocalHandler = (req: LocalRequest) => Promise<LocalResponse>;

export interface LocalSocketLimits {
  maxClients: number;
  maxBufferedBytes: number;
  requestDeadlineMs: number;
}

export class LocalSocketServer {
  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  static async listen(opts: {
    path: string;
    group?: string | undefined;
    handler: LocalHandler;
    log: Logger;
    limits?: Partial<LocalSocketLimits>;
  }): Promise<LocalSocketServer> {
    const { log } = opts;
    const limits: LocalSocketLimits = {
      maxClients: MAX_LOCAL_CLIENTS,
      maxBufferedBytes: MAX_BUFFERED_BYTES,
      requestDeadlineMs: REQUEST_DEADLINE_MS,
      ...opts.limits,
    };
    await fs.mkdir(path.dirname(opts.path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(opts.path);
    const budget = { clients: 0, bytes: 0 };
    const server = net.createServer((socket) => serve(socket, opts.handler, log, limits, budget));
    // bind with a restrictive umask so the socket is never briefly open to everyone; the bind
    // happens synchronously inside listen(), so the umask is restored right after
    const umask = process.umask(0o177);
    let listening: Promise<void>;
    try {
      listening = new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(opts.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(umask);
    }
    await listening;
    if (opts.group !== undefined) await fs.chown(opts.path, -1, resolveGroup(opts.group));
    await fs.chmod(opts.path, 0o660);
    log.info(`listening for local clients on ${opts.path}`);
    return new LocalSocketServer(server, opts.path);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await fs.rm(this.path, { force: true });
  }
}

async function removeStaleSocket(file: string): Promise<void> {
  let stat;
  try {
    stat = await fs.lstat(file);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new Error(`${file} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another daemon is already listening on ${file}`);
  await fs.rm(file, { force: true });
}

/**
 * Serves one client: one request line in, one response line out. What a client has sent but not
 * finished is held as raw bytes, counted against a budget shared by all clients; a client that
 * exceeds it, or takes longer than the deadline to send its line, is answered with an error and
 * disconnected.
 */
function serve(
  socket: net.Socket,
  handler: LocalHandler,
  log: Logger,
  limits: LocalSocketLimits,
  budget: { clients: number; bytes: number },
): void {
  socket.on('error', (err) => log.debug(`local client: ${err.message}`));
  const reply = (r: LocalResponse) => {
    if (!socket.destroyed) socket.end(`${JSON.stringify(r)}\n`);
  };
  if (budget.clients >= limits.maxClients) {
    log.warn(`local client refused: ${limits.maxClients} clients are connected already`);
    reply({ ok: false, error: `the daemon is serving ${limits.maxClients} clients already; try again` });
    return;
  }
  budget.clients++;
  let chunks: Buffer[] = [];
  let held = 0;
  let handled = false;
  const release = () => {
    budget.bytes -= held;
    held = 0;
    chunks = [];
  };
  const refuse = (why: string) => {
    handled = true;
    release();
    log.warn(`local client: ${why}`);
    reply({ ok: false, error: why });
    // a client that keeps sending must not keep the connection: close it once the answer is out
    socket.once('finish', () => socket.destroy());
  };
  const deadline = setTimeout(
    () => refuse(`no complete request within ${limits.requestDeadlineMs / 1000} s`),
    limits.requestDeadlineMs,
  );
  socket.once('close', () => {
    clearTimeout(deadline);
    release();
    budget.clients--;
  });
  socket.on('data', (chunk: Buffer) => {
    if (handled) return;
    const nl = chunk.indexOf(0x0a);
    const take = nl < 0 ? chunk.length : nl;
    if (held + take > MAX_REQUEST_BYTES) return refuse('request too large');
    if (budget.bytes + take > limits.maxBufferedBytes)
      return refuse('the daemon is busy with other clients; try again');
    chunks.push(chunk.subarray(0, take));
    held += take;
    budget.bytes += take;
    if (nl < 0) return;
    handled = true;
    clearTimeout(deadline);
    const line = Buffer.concat(chunks).toString('utf8');
    release();
    const req = attempt(() => parseLocalRequest(line));
    if (!req.ok) {
      log.warn(`local client: ${req.error.message}`);
      reply({ ok: false, error: req.error.message });
      return;
    }
    handler(req.value).then(reply, (e: Error) => reply({ ok: false, error: e.message }));
  });
}
