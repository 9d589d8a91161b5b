// A static file server for pull tests, as a mirror would run one, with the faults a real network has:
// a connection cut mid-body, Range ignored, wrong bytes, missing files, slowness.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import type { ExecutionContext } from 'ava';

export interface Fault {
  /** close the connection after this many body bytes */
  cutAfter?: number;
  /** answer with this status and no file */
  status?: number;
  /** send these bytes instead of the file's */
  body?: Buffer;
  /** answer a Range request with 200 and the whole file */
  ignoreRange?: boolean;
  /** send at most this many bytes per second */
  bytesPerSecond?: number;
}

export interface Served {
  path: string;
  range?: string;
}

export class MirrorServer {
  readonly log: Served[] = [];
  /** faults by URL path (e.g. /blobs/ab/...); `times` counts down, undefined means always */
  private readonly faults = new Map<string, { fault: Fault; times?: number }>();
  private rangeSupported = true;
  private constructor(
    readonly root: string,
    readonly url: string,
    private readonly close: () => Promise<void>,
  ) {}

  /** With `tls` (a key and certificate in PEM), the mirror is served over https. */
  static async start(t: ExecutionContext, root: string, tls?: { key: string; cert: string }): Promise<MirrorServer> {
    const holder: { mirror?: MirrorServer } = {};
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      holder.mirror!.handle(req, res).catch(() => res.destroy());
    };
    const server = tls === undefined ? createServer(handler) : createTlsServer(tls, handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const url = tls === undefined ? `http://127.0.0.1:${port}/` : `https://localhost:${port}/`;
    const mirror = new MirrorServer(root, url, () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    });
    holder.mirror = mirror;
    t.teardown(() => mirror.close());
    return mirror;
  }

  fault(path: string, fault: Fault, times?: number): void {
    this.faults.set(path, { fault, times });
  }

  /** A server that knows nothing of Range: every answer is 200 with the whole file. */
  withoutRange(): void {
    this.rangeSupported = false;
  }

  requests(pathPrefix: string): Served[] {
    return this.log.filter((s) => s.path.startsWith(pathPrefix));
  }

  private takeFault(path: string): Fault {
    const f = this.faults.get(path);
    if (!f) return {};
    if (f.times !== undefined && --f.times <= 0) this.faults.delete(path);
    return f.fault;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const range = req.headers.range;
    this.log.push({ path, ...(range === undefined ? {} : { range }) });
    const fault = this.takeFault(path);
    if (fault.status !== undefined) {
      res.writeHead(fault.status, { 'content-type': 'text/plain' }).end('fault\n');
      return;
    }
    const file = join(this.root, path);
    const st = await stat(file).catch(() => null);
    if (!st?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(range ?? '');
    const start = m && this.rangeSupported && !fault.ignoreRange ? Number(m[1]) : 0;
    if (start > 0 && start >= st.size) {
      res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
      return;
    }
    const headers: Record<string, string | number> = {
      'content-type': 'application/octet-stream',
      'content-length': st.size - start,
      'accept-ranges': this.rangeSupported ? 'bytes' : 'none',
    };
    if (start > 0) headers['content-range'] = `bytes ${start}-${st.size - 1}/${st.size}`;
    res.writeHead(start > 0 ? 206 : 200, headers);
    if (fault.body !== undefined) {
      res.end(fault.body.subarray(start));
      return;
    }
    let sent = 0;
    const source = createReadStream(file, { start, highWaterMark: 64 << 10 });
    for await (const chunk of source as AsyncIterable<Buffer>) {
      let piece = chunk;
      if (fault.cutAfter !== undefined && sent + piece.length > fault.cutAfter) {
        piece = piece.subarray(0, fault.cutAfter - sent);
        await new Promise<void>((resolve) => res.write(piece, () => resolve()));
        source.destroy();
        res.destroy();
        return;
      }
      if (!res.write(piece)) await new Promise((resolve) => res.once('drain', resolve));
      sent += piece.length;
      if (fault.bytesPerSecond !== undefined)
        await new Promise((resolve) => setTimeout(resolve, (piece.length / fault.bytesPerSecond!) * 1000));
      if (res.destroyed) return;
    }
    res.end();
  }
}
