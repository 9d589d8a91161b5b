// A small switchboard for tml's tests: the REST routes tml calls, in our shapes including the
// extensions being built (job list filters and cursors, numbered events, who holds a supervisor),
// each of which can be switched off to play an older or upstream switchboard. It records every
// request. Jobs, events, console output and supervisors are set by the test.

import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExitStatus } from '../../protocol/job.js';
import type { JobEventRecord, JobStatus } from '../../protocol/switchboard-api.js';
import type { SupervisorStatusFull } from '../../tml/api-ext.js';

export interface Features {
  /** GET /jobs applies the filters and pages with next_cursor. */
  pages: boolean;
  /** Events carry `seq`, the answer `next`, and `after` is honoured. */
  seq: boolean;
  /** Supervisor statuses carry job_owner and job_since. */
  holder: boolean;
  /** GET /jobs/:id/log exists. */
  logs: boolean;
}

export interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

export const AS_OF = '2025-10-31T12:00:00.000Z';

export function jobStatus(
  id: string,
  o: {
    state?: JobStatus['state']['type'];
    owner?: string;
    tags?: string;
    supervisor?: { id: string; name: string };
    queuedAt?: string;
    exit?: ExitStatus;
  } = {},
): JobStatus {
  const state = o.state ?? 'queued';
  return {
    state: {
      ...(state === 'initializing' ? { type: state, stage: 'booting' as const } : { type: state }),
      dispatched_to_supervisor: o.supervisor?.id ?? null,
      ssh_endpoints: null,
      ssh_user: null,
      ssh_host_keys: null,
      result:
        state === 'terminated'
          ? {
              job_id: id,
              supervisor_id: o.supervisor?.id ?? null,
              exit_status: o.exit ?? 'workload_finished_success',
              host_output: null,
              terminated_at: AS_OF,
            }
          : null,
    } as JobStatus['state'],
    as_of: AS_OF,
    job_id: id,
    owner: o.owner ?? 'alice',
    status_message: null,
    exit_status: o.exit ?? null,
    exit_message: null,
    supervisor_name: o.supervisor?.name ?? null,
    tag_config: o.tags ?? '',
    queued_at: o.queuedAt ?? AS_OF,
    scheduled_at: null,
    updated_at: AS_OF,
    terminated_at: null,
    log_bytes: 0,
  };
}

export class FakeSwitchboard {
  readonly requests: Recorded[] = [];
  readonly tokens = new Set<string>();
  /** Newest first, as the switchboard lists them. */
  readonly jobs = new Map<string, JobStatus>();
  readonly events = new Map<string, JobEventRecord[]>();
  readonly logs = new Map<string, Buffer>();
  supervisors: Record<string, SupervisorStatusFull> = {};
  /** user -> password */
  readonly users = new Map<string, string>();
  readonly enqueued: unknown[] = [];
  /** Answer POST /jobs/new with this job id. */
  nextJobId: string = randomUUID();
  private readonly followers = new Set<() => void>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly features: Features,
  ) {}

  static async start(features: Partial<Features> = {}): Promise<FakeSwitchboard> {
    const holder: { fake?: FakeSwitchboard } = {};
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => holder.fake!.handle(req, body, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    holder.fake = new FakeSwitchboard(server, `http://127.0.0.1:${port}`, {
      pages: true,
      seq: true,
      holder: true,
      logs: true,
      ...features,
    });
    return holder.fake;
  }

  /** A valid API token of this switchboard. */
  newToken(): string {
    const token = randomBytes(128).toString('base64');
    this.tokens.add(token);
    return token;
  }

  addJob(status: JobStatus): string {
    const id = status.job_id!;
    // Newest first: a new job goes before the others.
    const rest = [...this.jobs];
    this.jobs.clear();
    this.jobs.set(id, status);
    for (const [k, v] of rest) this.jobs.set(k, v);
    if (!this.events.has(id)) this.events.set(id, []);
    return id;
  }

  event(id: string, e: Partial<JobEventRecord> & Pick<JobEventRecord, 'state'>): void {
    this.events.get(id)!.push({
      at: AS_OF,
      kind: 'state',
      by: 'switchboard',
      stage: null,
      status_message: null,
      exit_status: null,
      ...e,
    });
  }

  console(id: string, text: string): void {
    this.logs.set(id, Buffer.concat([this.logs.get(id) ?? Buffer.alloc(0), Buffer.from(text)]));
    this.wake();
  }

  /** Ends a job with `exit` (its state, result and a terminated event). */
  finish(id: string, exit: ExitStatus = 'workload_finished_success'): void {
    const s = this.jobs.get(id)!;
    const supervisor = s.state.dispatched_to_supervisor;
    this.jobs.set(id, {
      ...s,
      exit_status: exit,
      state: {
        type: 'terminated',
        dispatched_to_supervisor: supervisor,
        ssh_endpoints: null,
        ssh_user: null,
        ssh_host_keys: null,
        result: { job_id: id, supervisor_id: supervisor, exit_status: exit, host_output: null, terminated_at: AS_OF },
      },
    });
    this.event(id, { kind: 'exit_status', exit_status: exit, state: s.state.type });
    this.event(id, { state: 'terminated' });
    this.wake();
  }

  private wake(): void {
    for (const f of [...this.followers]) f();
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, body: string, res: ServerResponse): void {
    const url = new URL(req.url!, this.url);
    this.requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body });
    const send = (status: number, value: unknown) => {
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(value));
    };
    const path = url.pathname;
    if (path === '/healthz' || path === '/readyz') return send(200, { status: 'ok' });
    if (req.method === 'POST' && path === '/api/v1/tokens/login') {
      const { user_identifier, password } = JSON.parse(body) as Record<string, string>;
      if (user_identifier === undefined || this.users.get(user_identifier) !== password)
        return send(403, { type: 'unauthorized', message: 'no' });
      return send(200, { token: this.newToken(), expires_at: '2025-11-07T12:00:00.000Z' });
    }
    const auth = req.headers.authorization?.replace(/^Bearer /, '');
    if (!auth || !this.tokens.has(auth)) return send(401, { type: 'unauthenticated', message: 'invalid API token' });
    const jobPath = /^\/api\/v1\/jobs\/([^/]+)(\/status|\/events|\/log)?$/.exec(path);
    if (req.method === 'POST' && path === '/api/v1/jobs/new') {
      this.enqueued.push(JSON.parse(body));
      const id = this.nextJobId;
      this.nextJobId = randomUUID();
      this.addJob(jobStatus(id, { tags: (JSON.parse(body) as { tag_config: string }).tag_config }));
      return send(200, { type: 'ok', job_id: id });
    }
    if (req.method === 'GET' && path === '/api/v1/jobs') return send(200, this.list(url.searchParams));
    if (req.method === 'GET' && path === '/api/v1/supervisors') {
      return send(200, { type: 'ok', supervisors: this.shownSupervisors() });
    }
    const supPath = /^\/api\/v1\/supervisors\/([^/]+)\/status$/.exec(path);
    if (supPath) {
      const s = this.shownSupervisors()[supPath[1]!];
      return s ? send(200, { type: 'ok', status: s }) : send(404, { type: 'invalid', message: 'no supervisor' });
    }
    if (!jobPath) return send(404, { type: 'not_found', message: 'no such route' });
    const [, id, sub] = jobPath;
    const job = this.jobs.get(id!);
    if (sub === '/log' && !this.features.logs) {
      res.statusCode = 404;
      res.end('no such route');
      return;
    }
    if (!job) return send(404, { type: 'invalid', message: `no job ${id} visible to you` });
    if (req.method === 'DELETE' && sub === undefined) {
      if (job.state.type !== 'terminated') this.finish(id!, 'job_canceled');
      return send(200, { type: 'ok', job_status: this.jobs.get(id!) });
    }
    if (sub === '/status') return send(200, { type: 'ok', job_status: job });
    if (sub === '/events') return send(200, this.eventsAnswer(id!, url.searchParams));
    if (sub === '/log') return this.log(id!, url.searchParams, res);
    send(404, { type: 'not_found', message: 'no such route' });
  }

  private shownSupervisors(): Record<string, SupervisorStatusFull> {
    if (this.features.holder) return this.supervisors;
    const out: Record<string, SupervisorStatusFull> = {};
    for (const [id, s] of Object.entries(this.supervisors)) {
      const { job_owner: _o, job_since: _s, ...rest } = s;
      out[id] = rest;
    }
    return out;
  }

  private list(q: URLSearchParams): unknown {
    const all = [...this.jobs];
    if (!this.features.pages) return { type: 'ok', jobs: Object.fromEntries(all) };
    const kept = all.filter(([, s]) => {
      if (q.has('state') && s.state.type !== q.get('state')) return false;
      if (q.has('exit_status') && s.state.result?.exit_status !== q.get('exit_status')) return false;
      if (q.has('tag') && !s.tag_config!.split(';').includes(q.get('tag')!)) return false;
      if (q.has('supervisor')) {
        const v = q.get('supervisor');
        if (s.state.dispatched_to_supervisor !== v && s.supervisor_name !== v) return false;
      }
      if (q.has('since') && Date.parse(s.queued_at!) < Date.parse(q.get('since')!)) return false;
      return true;
    });
    const start = q.has('cursor') ? Number(q.get('cursor')!.replace('c', '')) : 0;
    const limit = Number(q.get('limit') ?? 200);
    const page = kept.slice(start, start + limit);
    const next = start + limit < kept.length ? `c${start + limit}` : null;
    return { type: 'ok', jobs: Object.fromEntries(page), next_cursor: next };
  }

  private eventsAnswer(id: string, q: URLSearchParams): unknown {
    const all = this.events.get(id)!;
    if (!this.features.seq) return { type: 'ok', events: all };
    const numbered = all.map((e, i) => ({ ...e, seq: i + 1 }));
    const after = Number(q.get('after') ?? 0);
    const limit = 2;
    const rest = numbered.filter((e) => e.seq > after);
    const page = rest.slice(0, limit);
    return { type: 'ok', events: page, next: rest.length > limit ? page.at(-1)!.seq : null };
  }

  private log(id: string, q: URLSearchParams, res: ServerResponse): void {
    const offset = Number(q.get('offset') ?? 0);
    const data = () => this.logs.get(id) ?? Buffer.alloc(0);
    const terminated = () => this.jobs.get(id)!.state.type === 'terminated';
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('x-log-offset', String(Math.min(offset, data().length)));
    if (q.get('follow') !== '1') {
      const bytes = data().subarray(offset);
      res.setHeader('x-log-next-offset', String(offset + bytes.length));
      res.setHeader('x-job-terminated', terminated() ? '1' : '0');
      res.end(bytes);
      return;
    }
    res.writeHead(200);
    res.flushHeaders();
    let sent = offset;
    const push = () => {
      const bytes = data().subarray(sent);
      if (bytes.length) res.write(bytes);
      sent += bytes.length;
      if (terminated()) {
        this.followers.delete(push);
        res.end();
      }
    };
    this.followers.add(push);
    res.once('close', () => this.followers.delete(push));
    push();
  }
}
