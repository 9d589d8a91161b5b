// A small typed client of the switchboard's REST API (used by `tml`, tests and the benchmark). It
// reads upstream's answers as well as ours: our extra keys are optional in every type it returns.

import {
  API_PREFIX,
  errorBodyOf,
  parseCancelAnswer,
  parseEnqueueResponse,
  parseJobEventsAnswer,
  parseJobListAnswer,
  parseJobStatusAnswer,
  parseSupervisorListAnswer,
  parseSupervisorStatusAnswer,
  type ApiSupervisorStatusExt,
  type CancelAnswer,
  type JobEventRecord,
  type JobStatus,
  type SupervisorFilter,
} from '../protocol/switchboard-api.js';
import type { JobRequestBody } from '../protocol/job.js';
import { ValidationError } from '../protocol/validation.js';
import { request, type Dispatcher } from 'undici';

// undici's request, not fetch: fetch refuses the Fetch standard's "bad ports" (6000, 6665-6669, ...),
// which are ordinary ports for a switchboard.
type Response = Dispatcher.ResponseData;

function header(res: Response, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The switchboard answered with an error status; `type` is the answer's tag when it had one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string | null,
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

/** The switchboard answered 2xx with a body that is not what the API says. */
export class BadAnswerError extends Error {
  override name = 'BadAnswerError';
}

/** Longest error text kept from a body that is not a JSON error object. */
const MAX_ERROR_TEXT = 200;

export class SwitchboardClient {
  private readonly base: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /** The new job's id. */
  async enqueue(body: JobRequestBody): Promise<string> {
    return (await this.json('POST', '/jobs/new', parseEnqueueResponse, body)).job_id;
  }

  async status(jobId: string): Promise<JobStatus> {
    return (await this.json('GET', `/jobs/${encodeURIComponent(jobId)}/status`, parseJobStatusAnswer)).job_status;
  }

  /** Jobs by id; `limit` is our extension (upstream ignores it). */
  async list(limit?: number): Promise<Record<string, JobStatus>> {
    const query = limit === undefined ? '' : `?limit=${limit}`;
    return (await this.json('GET', `/jobs${query}`, parseJobListAnswer)).jobs;
  }

  async cancel(jobId: string): Promise<CancelAnswer> {
    return this.json('DELETE', `/jobs/${encodeURIComponent(jobId)}`, parseCancelAnswer);
  }

  async events(jobId: string): Promise<JobEventRecord[]> {
    return (await this.json('GET', `/jobs/${encodeURIComponent(jobId)}/events`, parseJobEventsAnswer)).events;
  }

  async supervisors(filter: Partial<SupervisorFilter> = {}): Promise<Record<string, ApiSupervisorStatusExt>> {
    const query = new URLSearchParams();
    if (filter.work) query.set('work', filter.work);
    if (filter.conn) query.set('conn', filter.conn);
    const q = query.size ? `?${query}` : '';
    return (await this.json('GET', `/supervisors${q}`, parseSupervisorListAnswer)).supervisors;
  }

  async supervisor(id: string): Promise<ApiSupervisorStatusExt> {
    return (await this.json('GET', `/supervisors/${encodeURIComponent(id)}/status`, parseSupervisorStatusAnswer))
      .status;
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

  private async json<T>(method: string, path: string, parse: (v: unknown) => T, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    let value: unknown;
    try {
      value = await res.body.json();
    } catch (err) {
      throw new NetworkError(`bad response from ${this.base}${API_PREFIX}${path}: ${describe(err)}`);
    }
    try {
      return parse(value);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      throw new BadAnswerError(`unexpected answer from ${this.base}${API_PREFIX}${path}: ${err.message}`);
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
    if (res.statusCode < 200 || res.statusCode > 299) throw await apiError(res);
    return res;
  }
}

/** Our error answers are `{"type", "message"}`; upstream's are sometimes empty or plain text. */
async function apiError(res: Response): Promise<ApiError> {
  let text = '';
  try {
    text = await res.body.text();
  } catch {
    // the body broke off: the status alone has to do
  }
  let type: string | null = null;
  let message: string | null = null;
  try {
    ({ type, message } = errorBodyOf(JSON.parse(text)));
  } catch {
    const line = text.trim().split('\n')[0] ?? '';
    if (line !== '') message = line.slice(0, MAX_ERROR_TEXT);
  }
  return new ApiError(res.statusCode, type, message ?? type ?? `HTTP ${res.statusCode}`);
}

function describe(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  return e?.cause?.code ?? e?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}
