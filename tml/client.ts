// A small typed client of the switchboard's REST API. It reads upstream's answers as well as ours:
// our extra keys are optional in every type it returns. Every call has a connect and a request
// time-out, and every answer read whole has a cap.

import {
  API_PREFIX,
  errorBodyOf,
  parseCancelAnswer,
  parseEnqueueResponse,
  parseJobStatusAnswer,
  parseLoginResponse,
  type CancelAnswer,
  type JobStatus,
  type LoginResponse,
  type SupervisorFilter,
  parseEventsPage,
  parseJobListPage,
  type EventsPage,
  type JobListPage,
} from '../protocol/switchboard-api.js';
import { parseConsoleInputAnswer } from '../protocol/console-input-api.js';
import type { JobRequestBody } from '../protocol/job.js';
import { ValidationError, attempt, parseJson } from '../protocol/validation.js';
import { parseSupervisorListFull, parseSupervisorStatusFullAnswer, type SupervisorStatusFull } from './api-ext.js';
import { eventsQueryString, jobListQueryString, logQueryString, type JobListQuery } from '../protocol/job-query.js';
import { ApiError, BadAnswerError, NetworkError, describeNetworkError, networkCode } from './errors.js';
import { AnswerTooLargeError, headerOf, httpRequest, readBody, Agents, type HttpAnswer } from './http.js';

export interface ClientOptions {
  /** Time to open a connection. */
  connectTimeoutMs: number;
  /** Time to the answer's headers, and between two parts of an answer (a followed log excepted). */
  requestTimeoutMs: number;
}

export const DEFAULT_CLIENT_OPTIONS: ClientOptions = { connectTimeoutMs: 10_000, requestTimeoutMs: 30_000 };

/** Longest error text kept from a body that is not a JSON error object. */
const MAX_ERROR_TEXT = 200;
/** Longest answer read whole (a JSON answer, a page of log): a peer cannot fill our memory. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
/** Longest error answer read; a longer one is told by its status alone. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

const seconds = (ms: number) => `${ms / 1000} s`;

export class SwitchboardClient {
  readonly base: string;
  private readonly agents = new Agents();

  constructor(
    baseUrl: string,
    private readonly token: string | null,
    private readonly options: ClientOptions = DEFAULT_CLIENT_OPTIONS,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
  }

  /** `POST /tokens/login`: a new token for a user name or e-mail address. */
  async login(userIdentifier: string, password: string): Promise<LoginResponse> {
    return this.json('POST', '/tokens/login', parseLoginResponse, { user_identifier: userIdentifier, password });
  }

  /** The new job's id. */
  async enqueue(body: JobRequestBody): Promise<string> {
    return (await this.json('POST', '/jobs/new', parseEnqueueResponse, body)).job_id;
  }

  async status(jobId: string): Promise<JobStatus> {
    return (await this.json('GET', `/jobs/${encodeURIComponent(jobId)}/status`, parseJobStatusAnswer)).job_status;
  }

  /** One page of jobs, newest first; an upstream switchboard ignores the query and has no pages. */
  async listPage(query: JobListQuery = {}): Promise<JobListPage> {
    return this.json('GET', `/jobs${jobListQueryString(query)}`, parseJobListPage);
  }

  async cancel(jobId: string): Promise<CancelAnswer> {
    return this.json('DELETE', `/jobs/${encodeURIComponent(jobId)}`, parseCancelAnswer);
  }

  /** Bytes for the job's console input (our extension; at most MAX_CONSOLE_INPUT_BYTES a call). */
  async consoleInput(jobId: string, data: Buffer): Promise<number> {
    const body = { data_base64: data.toString('base64') };
    return (await this.json('POST', `/jobs/${encodeURIComponent(jobId)}/console`, parseConsoleInputAnswer, body)).bytes;
  }

  /** Events after sequence number `after` (all of them without it). */
  async eventsPage(jobId: string, after?: number): Promise<EventsPage> {
    const q = eventsQueryString(after === undefined ? {} : { after });
    return this.json('GET', `/jobs/${encodeURIComponent(jobId)}/events${q}`, parseEventsPage);
  }

  async supervisors(filter: Partial<SupervisorFilter> = {}): Promise<Record<string, SupervisorStatusFull>> {
    const query = new URLSearchParams();
    if (filter.work) query.set('work', filter.work);
    if (filter.conn) query.set('conn', filter.conn);
    const q = query.size ? `?${query}` : '';
    return this.json('GET', `/supervisors${q}`, parseSupervisorListFull);
  }

  async supervisor(id: string): Promise<SupervisorStatusFull> {
    return this.json('GET', `/supervisors/${encodeURIComponent(id)}/status`, parseSupervisorStatusFullAnswer);
  }

  /** Console bytes from `offset` as stored now; `next` is where to continue. */
  async log(jobId: string, offset = 0): Promise<{ data: Buffer; offset: number; next: number; terminated: boolean }> {
    const path = `/jobs/${encodeURIComponent(jobId)}/log${logQueryString({ offset })}`;
    const res = await this.request('GET', path);
    const data = await this.read(path, () => readBody(res.body, MAX_ANSWER_BYTES));
    return {
      data,
      offset: Number(headerOf(res.headers, 'x-log-offset') ?? offset),
      next: Number(headerOf(res.headers, 'x-log-next-offset') ?? offset + data.length),
      terminated: headerOf(res.headers, 'x-job-terminated') === '1',
    };
  }

  /**
   * Console bytes from `offset` as they arrive, until the job has terminated (or the connection
   * ends). `start` is where they begin: later than `offset` when older output was dropped.
   */
  async followLog(
    jobId: string,
    offset: number,
    signal?: AbortSignal,
  ): Promise<{ start: number; chunks: AsyncIterable<Buffer> }> {
    // A followed log may be quiet for hours: no time limit between its parts.
    const res = await this.request(
      'GET',
      `/jobs/${encodeURIComponent(jobId)}/log${logQueryString({ offset, follow: true })}`,
      undefined,
      signal,
      0,
    );
    const start = Number(headerOf(res.headers, 'x-log-offset') ?? offset);
    const base = this.base;
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) yield chunk;
      } catch (err) {
        if (signal?.aborted) return;
        throw new NetworkError(`lost the console stream from ${base}: ${describeNetworkError(err)}`);
      }
    }
    return { start: Number.isSafeInteger(start) && start >= 0 ? start : offset, chunks: chunks() };
  }

  /** `GET /healthz` or `/readyz` (no token): the status, or null when the switchboard has no such route. */
  async health(path: '/healthz' | '/readyz'): Promise<{ ok: boolean; status: number } | null> {
    const res = await this.send('GET', `${this.base}${path}`, undefined, undefined, this.options.requestTimeoutMs);
    res.body.resume();
    if (res.status === 404) return null;
    return { ok: res.status >= 200 && res.status < 300, status: res.status };
  }

  /** A JSON POST outside the API's envelope (device login answers as RFC 8628 says): status and body. */
  async postForAnswer(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const res = await this.send('POST', `${this.base}${path}`, body, undefined, this.options.requestTimeoutMs);
    let text: string;
    try {
      text = (await readBody(res.body, MAX_ANSWER_BYTES)).toString('utf8');
    } catch (err) {
      if (err instanceof AnswerTooLargeError) {
        throw new BadAnswerError(`the answer from ${this.base}${path} is longer than ${err.maxBytes} bytes`);
      }
      throw new NetworkError(`lost the answer from the switchboard at ${this.base}: ${describeNetworkError(err)}`);
    }
    const parsed = attempt(() => parseJson(text, 'answer'));
    return { status: res.status, body: parsed.ok ? parsed.value : null };
  }

  private async json<T>(method: string, path: string, parse: (v: unknown) => T, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body);
    const value = await this.read(path, async () =>
      JSON.parse((await readBody(res.body, MAX_ANSWER_BYTES)).toString('utf8')),
    );
    try {
      return parse(value);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      throw new BadAnswerError(`unexpected answer from ${this.base}${API_PREFIX}${path}: ${err.message}`);
    }
  }

  /** Reads an answer's body; a body that breaks off or times out is a network failure. */
  private async read<T>(path: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      if (err instanceof SyntaxError) {
        throw new BadAnswerError(`the answer from ${this.base}${API_PREFIX}${path} is not JSON`);
      }
      if (err instanceof AnswerTooLargeError) {
        throw new BadAnswerError(
          `the answer from ${this.base}${API_PREFIX}${path} is longer than ${err.maxBytes} bytes`,
        );
      }
      if (networkCode(err) === 'BODY_TIMEOUT') {
        throw new NetworkError(
          `the answer from the switchboard at ${this.base} stopped for ${seconds(this.options.requestTimeoutMs)} (--request-timeout)`,
        );
      }
      throw new NetworkError(`lost the answer from the switchboard at ${this.base}: ${describeNetworkError(err)}`);
    }
  }

  private async request(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    bodyTimeoutMs = this.options.requestTimeoutMs,
  ): Promise<HttpAnswer> {
    const res = await this.send(method, `${this.base}${API_PREFIX}${path}`, body, signal, bodyTimeoutMs);
    if (res.status < 200 || res.status > 299) throw await apiError(res);
    return res;
  }

  private async send(
    method: string,
    url: string,
    body: unknown,
    signal: AbortSignal | undefined,
    bodyTimeoutMs: number,
  ): Promise<HttpAnswer> {
    try {
      return await httpRequest(new URL(url), this.agents, {
        method,
        headers: {
          ...(this.token === null ? {} : { authorization: `Bearer ${this.token}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        ...(signal !== undefined && { signal }),
        connectTimeoutMs: this.options.connectTimeoutMs,
        headersTimeoutMs: this.options.requestTimeoutMs,
        bodyTimeoutMs,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      const code = networkCode(err);
      if (code === 'CONNECT_TIMEOUT') {
        throw new NetworkError(
          `cannot connect to the switchboard at ${this.base} within ${seconds(this.options.connectTimeoutMs)} (--connect-timeout)`,
        );
      }
      if (code === 'HEADERS_TIMEOUT') {
        throw new NetworkError(
          `no answer from the switchboard at ${this.base} within ${seconds(this.options.requestTimeoutMs)} (--request-timeout)`,
        );
      }
      throw new NetworkError(`cannot reach the switchboard at ${this.base}: ${describeNetworkError(err)}`);
    }
  }
}

/** Our error answers are `{"type", "message"}`; upstream's are sometimes empty or plain text. */
async function apiError(res: HttpAnswer): Promise<ApiError> {
  let text = '';
  try {
    text = (await readBody(res.body, MAX_ERROR_BODY_BYTES)).toString('utf8');
  } catch {
    // the body broke off or is too long: the status alone has to do
  }
  let type: string | null = null;
  let message: string | null = null;
  try {
    ({ type, message } = errorBodyOf(JSON.parse(text)));
  } catch {
    const line = text.trim().split('\n')[0] ?? '';
    if (line !== '') message = line.slice(0, MAX_ERROR_TEXT);
  }
  return new ApiError(res.status, type, message ?? type ?? `HTTP ${res.status}`);
}
