// The daemon's Unix socket for the local CLI: mode 0660, optionally owned by a group, so only
// root and that group may report for the job.

import { promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Log } from './log.js';
import { parseLocalRequest, type LocalRequest, type LocalResponse } from './local-protocol.js';

// requests are tiny except `finish` with output, which the 8 MiB frame limit bounds anyway
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

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

export class LocalSocketServer {
  private constructor(
    private readonly server: net.Server,
    readonly path: string,
  ) {}

  static async listen(opts: {
    path: string;
    group?: string;
    handler: LocalHandler;
    log: Log;
  }): Promise<LocalSocketServer> {
    const { log } = opts;
    await fs.mkdir(path.dirname(opts.path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(opts.path);
    const server = net.createServer((socket) => serve(socket, opts.handler, log));
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

function serve(socket: net.Socket, handler: LocalHandler, log: Log): void {
  let buffered = '';
  let handled = false;
  socket.setEncoding('utf8');
  const reply = (r: LocalResponse) => socket.end(`${JSON.stringify(r)}\n`);
  socket.on('data', (text: string) => {
    if (handled) return;
    buffered += text;
    if (buffered.length > MAX_REQUEST_BYTES) {
      handled = true;
      reply({ ok: false, error: 'request too large' });
      return;
    }
    const nl = buffered.indexOf('\n');
    if (nl < 0) return;
    handled = true;
    const req = parseLocalRequest(buffered.slice(0, nl));
    if (typeof req === 'string') {
      log.warn(`local client: ${req}`);
      reply({ ok: false, error: req });
      return;
    }
    handler(req).then(reply, (e: Error) => reply({ ok: false, error: e.message }));
  });
  socket.on('error', (err) => log.debug(`local client: ${err.message}`));
}
