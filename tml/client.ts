// A small typed client of the switchboard's REST API (used by `tml`, tests and the benchmark).

import type {
  ApiErrorBody,
  EnqueueResponse,
  JobEventRecord,
  JobStatusResponse,
  SupervisorInfo,
} from '../protocol/switchboard-api.js';
import type { JobRequest } from '../protocol/job.js';
import { API_PREFIX } from '../protocol/switchboard-api.js';
import { request, type Dispatcher } from 'undici';

// undici's request, not fetch: fetch refuses the Fetch standard's "bad ports" (6000, 6665-6669, ...),
// which are ordinary ports for a switchboard.
type Response = Dispatcher.ResponseData;

function header(res: Response, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The switchboard answered with an error status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The switchboard could not be reached or broke the connection. */
export class NetworkError extends Error {
  override name = 'NetworkError';
}

export class SwitchboardClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  async enqueue(request: JobRequest): Promise<EnqueueResponse> {
    return this.json('POST', '/jobs/new', request);
  }

  async status(jobId: string): Promise<JobStatusResponse> {
    return this.json('GET', `/jobs/${encodeURIComponent(jobId)}/status`);
  }

  async list(limit?: number): Promise<JobStatusResponse[]> {
    return this.json('GET', `/jobs${limit === undefined ? '' : `?limit=${limit}`}`);
  }

  async cancel(jobId: string): Promise<JobStatusResponse> {
    return this.json('DELETE', `/jobs/${encodeURIComponent(jobId)}`);
  }

  async events(jobId: string): Promise<JobEventRecord[]> {
    return this.json('GET', `/jobs/${encodeURIComponent(jobId)}/events`);
  }

  async supervisors(): Promise<SupervisorInfo[]> {
    return this.json('GET', '/supervisors');
  }

  /** Console bytes from `offset` as stored now; `next` is where to continue. */
  async log(jobId: string, offset = 0): Promise<{ data: Buffer; offset: number; next: number; terminated: boolean }> {
    const res = await this.request('GET', `/jobs/${encodeURIComponent(jobId)}/log?offset=${offset}`);
    const data = Buffer.from(await res.body.arrayBuffer());
    return {
      data,
      offset: Number(header(res, 'x-log-offset') ?? offset),
      next: Number(header(res, 'x-log-next-offset') ?? offset + data.length),
      terminated: header(res, 'x-job-terminated') === '1',
    };
  }

  /** Console bytes from `offset` as they arrive, until the job has terminated. */
  async *followLog(jobId: string, offset = 0, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const res = await this.request(
      'GET',
      `/jobs/${encodeURIComponent(jobId)}/log?offset=${offset}&follow=1`,
      undefined,
      signal,
    );
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) yield Buffer.from(chunk);
    } catch (err) {
      if (signal?.aborted) return;
      throw new NetworkError(`lost the log stream from ${this.base}: ${describe(err)}`);
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    try {
      return (await res.body.json()) as T;
    } catch (err) {
      throw new NetworkError(`bad response from ${this.base}${API_PREFIX}${path}: ${describe(err)}`);
    }
  }

  private async request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const url = `${this.base}${API_PREFIX}${path}`;
    let res: Response;
    try {
      res = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      throw new NetworkError(`cannot reach the switchboard at ${this.base}: ${describe(err)}`);
    }
    if (res.statusCode < 200 || res.statusCode > 299) {
      let code = 'error';
      let message = `HTTP ${res.statusCode}`;
      try {
        const e = (await res.body.json()) as ApiErrorBody;
        if (e?.error?.message) ({ code, message } = e.error);
      } catch {
        // not our JSON error body: keep the status line
      }
      throw new ApiError(res.statusCode, code, message);
    }
    return res;
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  return e?.cause?.code ?? e?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
