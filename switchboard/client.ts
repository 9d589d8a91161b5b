// A small typed client of the switchboard's REST API (used by `tml`, tests and the benchmark).

import type {
  ApiErrorBody,
  EnqueueResponse,
  JobEventRecord,
  JobRequest,
  JobStatusResponse,
  SupervisorInfo,
} from './api.js';
import { API_PREFIX } from './api.js';

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
    return this.json('GET', `/jobs${limit ? `?limit=${limit}` : ''}`);
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
    const data = Buffer.from(await res.arrayBuffer());
    return {
      data,
      offset: Number(res.headers.get('x-log-offset') ?? offset),
      next: Number(res.headers.get('x-log-next-offset') ?? offset + data.length),
      terminated: res.headers.get('x-job-terminated') === '1',
    };
  }

  /** Console bytes from `offset` as they arrive, until the job has terminated. */
  async *followLog(jobId: string, offset = 0, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const res = await this.request('GET', `/jobs/${encodeURIComponent(jobId)}/log?offset=${offset}&follow=1`, undefined, signal);
    if (!res.body) return;
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
      return (await res.json()) as T;
    } catch (err) {
      throw new NetworkError(`bad response from ${this.base}${API_PREFIX}${path}: ${describe(err)}`);
    }
  }

  private async request(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const url = `${this.base}${API_PREFIX}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
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
    if (!res.ok) {
      let code = 'error';
      let message = `${res.status} ${res.statusText}`;
      try {
        const e = (await res.json()) as ApiErrorBody;
        if (e?.error?.message) ({ code, message } = e.error);
      } catch {
        // not our JSON error body: keep the status line
      }
      throw new ApiError(res.status, code, message);
    }
    return res;
  }
}

function describe(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string }; message?: string };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
