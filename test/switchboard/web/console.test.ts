import test from 'ava';
import { request } from 'node:http';
import { lineText, renderAll } from '../../../switchboard/web/console-render.js';
import type {
  ConsoleEvent,
  ConsoleWindow,
  JobUpdateEvent,
  SearchResult,
  WireLine,
} from '../../../switchboard/web/wire.js';
import { startWeb, withWeb, type WebClient, type WebHarness } from './web-harness.js';

const lineOf = (i: number) => `line ${String(i).padStart(6, '0')} \x1b[32mok\x1b[0m ${'.'.repeat(40)}\n`;
const wireText = (l: WireLine) => l.runs.map(([, t]) => t).join('');

/** A queued job with `n` console lines, appended in chunks like a supervisor sends them. */
async function jobWithConsole(h: WebHarness, n: number): Promise<{ id: string; bytes: Buffer }> {
  const id = await h.job('alice');
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(lineOf(i));
  const bytes = Buffer.from(parts.join(''));
  for (let o = 0; o < bytes.length; o += 4000) await h.sb.jobs.appendLog(id, bytes.subarray(o, o + 4000));
  return { id, bytes };
}

const big = { logKeepBytes: 64 * 1024 * 1024 };

test('a job page opens with the tail of a large console and stays small', (t) =>
  withWeb(async (h) => {
    const { id, bytes } = await jobWithConsole(h, 40_000);
    t.true(bytes.length > 2_500_000);
    const c = await h.login('alice');
    const r = await c.get(`/jobs/${id}`);
    t.is(r.statusCode, 200);
    t.true(r.body.length < 600_000, `page is ${r.body.length} bytes`);
    t.true(r.body.includes('line 039999'));
    t.false(r.body.includes('line 000001 '));
    t.regex(r.body, /class="earlier" data-before="\d+"/);
    const last = renderAll(bytes).at(-1)!;
    t.regex(r.body, new RegExp(`id="L${last.start}"`));
  }, big));

test('earlier output loads window by window, each line exactly once, with the ids of the whole rendering', (t) =>
  withWeb(async (h) => {
    const { id, bytes } = await jobWithConsole(h, 8000);
    const c = await h.login('alice');
    const seen: WireLine[] = [];
    let w = (await c.get(`/jobs/${id}/console.json`)).json() as ConsoleWindow;
    t.is(w.next, bytes.length);
    seen.unshift(...w.lines);
    while (w.from > w.logStart) {
      w = (await c.get(`/jobs/${id}/console.json?before=${w.from}`)).json() as ConsoleWindow;
      t.true(w.lines.length > 0);
      t.is(w.lines.at(-1)!.end, seen[0]!.id, 'windows meet without a gap');
      seen.unshift(...w.lines);
    }
    const whole = renderAll(bytes);
    t.deepEqual(
      seen.map((l) => l.id),
      whole.map((l) => l.start),
    );
    t.deepEqual(seen.map(wireText), whole.map(lineText));
    t.deepEqual(seen[0]!.runs, [
      ['', 'line 000000 '],
      ['f2', 'ok'],
      ['', ` ${'.'.repeat(40)}`],
    ]);
  }, big));

test('an anchor link opens the page around its line, even far from the tail; the line can be marked', (t) =>
  withWeb(async (h) => {
    const { id, bytes } = await jobWithConsole(h, 10_000);
    const target = renderAll(bytes)[1234]!;
    const c = await h.login('alice');
    const r = await c.get(`/jobs/${id}?at=${target.start}`);
    t.is(r.statusCode, 200);
    t.regex(
      r.body,
      new RegExp(`<div class="ln" id="L${target.start}"><a class="la" href="\\?at=${target.start}#L${target.start}"`),
    );
    t.true(r.body.includes('line 001234'));
    t.regex(r.body, /data-live="0"/);
    t.regex(r.body, /Later output/);
    t.regex(r.body, /Earlier output/);
    t.is((await c.get(`/jobs/${id}?at=x`)).statusCode, 400);
  }, big));

test('search covers the whole console, not only what the page shows, and finds lines by their rendered text', (t) =>
  withWeb(async (h) => {
    const { id, bytes } = await jobWithConsole(h, 20_000);
    await h.sb.jobs.appendLog(id, Buffer.from('progress 10%\rprogress 100%\nerr\x1b[31mor: disk\x1b[0m full\n'));
    const c = await h.login('alice');
    const r = (await c.get(`/jobs/${id}/search.json?q=LINE%20000017%20OK`)).json() as SearchResult;
    t.deepEqual(
      r.hits.map((x) => x.id),
      [renderAll(bytes)[17]!.start],
    );
    t.false(r.truncated);
    t.deepEqual(
      ((await c.get(`/jobs/${id}/search.json?q=error:%20disk`)).json() as SearchResult).hits.map((x) => x.text),
      ['error: disk full'],
    );
    t.deepEqual(((await c.get(`/jobs/${id}/search.json?q=progress%2010%25`)).json() as SearchResult).hits, []);
    const page = await c.get(`/jobs/${id}/search?q=line%20000017%20`);
    t.regex(
      page.body,
      new RegExp(`href="/jobs/${id}\\?at=${renderAll(bytes)[17]!.start}#L${renderAll(bytes)[17]!.start}"`),
    );
    const many = (await c.get(`/jobs/${id}/search.json?q=line`)).json() as SearchResult;
    t.is(many.hits.length, 1000);
    t.true(many.truncated);
    t.is((await c.get(`/jobs/${id}/search.json?q=${'x'.repeat(201)}`)).statusCode, 400);
  }, big));

test('the raw download is the whole stored console as an attachment', (t) =>
  withWeb(async (h) => {
    const { id, bytes } = await jobWithConsole(h, 5000);
    const r = await (await h.login('alice')).get(`/jobs/${id}/console.log`);
    t.is(r.statusCode, 200);
    t.is(r.headers['content-disposition'], `attachment; filename="job-${id}.log"`);
    t.true(r.rawPayload.equals(bytes));
  }, big));

test('when old output is no longer stored, the page says so', (t) =>
  withWeb(
    async (h) => {
      const { id } = await jobWithConsole(h, 2000);
      const r = await (await h.login('alice')).get(`/jobs/${id}`);
      t.regex(r.body, /no longer stored/);
    },
    { logKeepBytes: 16 * 1024 },
  ));

test('console lines carry the time they were received, shown absolute or relative to the job start', (t) =>
  withWeb(async (h) => {
    const id = await h.job('alice');
    const before = Date.now();
    await h.sb.jobs.appendLog(id, Buffer.from('first\n'));
    await new Promise((r) => setTimeout(r, 120));
    await h.sb.jobs.appendLog(id, Buffer.from('second\n'));
    const w = (await (await h.login('alice')).get(`/jobs/${id}/console.json`)).json() as ConsoleWindow;
    const [a, b] = w.lines;
    t.true(a!.t! >= before && a!.t! <= Date.now());
    t.true(b!.t! - a!.t! >= 100);
    const page = await (await h.login('alice')).get(`/jobs/${id}`);
    t.regex(page.body, /<span class="ta">\d\d:\d\d:\d\d\.\d{3}<\/span><span class="tr">[+-]\d+:\d\d\.\d{3}<\/span>/);
  }));

// -- Server-Sent Events, over a real connection --

interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/** Reads SSE messages until `stop` says so (or the stream ends); returns them and the last id. */
function readSse(
  url: string,
  cookie: string,
  headers: Record<string, string>,
  stop: (m: SseMessage, all: SseMessage[]) => boolean,
): Promise<SseMessage[]> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { cookie, ...headers } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      const all: SseMessage[] = [];
      let buf = '';
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const m: SseMessage = { event: 'message', data: '' };
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) m.id = line.slice(4);
            else if (line.startsWith('event: ')) m.event = line.slice(7);
            else if (line.startsWith('data: ')) m.data += line.slice(6);
          }
          if (block.startsWith(':') || block.startsWith('retry')) continue;
          all.push(m);
          if (stop(m, all)) {
            req.destroy();
            return resolve(all);
          }
        }
      });
      res.on('end', () => resolve(all));
    });
    req.on('error', reject);
    req.end();
  });
}

const cookieOf = (c: WebClient) => [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

/** Applies console events the way the page does: a line replaces the one with its id. */
function apply(view: Map<number, WireLine>, msgs: SseMessage[]): void {
  for (const m of msgs)
    if (m.event === 'console') for (const l of (JSON.parse(m.data) as ConsoleEvent).lines) view.set(l.id, l);
}

test('the live console resumes by Last-Event-ID with no gap and no duplicate, and ends with the job', async (t) => {
  const h = await startWeb({}, true);
  try {
    const id = await h.job('alice');
    const c = await h.login('alice');
    const url = `${h.url}/jobs/${id}/live?from=0`;
    const view = new Map<number, WireLine>();
    const text = ['boot: one\n', 'boot: tw', 'o\nprogress 1%\rprogress 50%', '\rprogress 100%\nlogin: '];
    await h.sb.jobs.appendLog(id, Buffer.from(text[0]!));
    // First connection: the first line, then the half line arrives and is sent as partial.
    let sentHalf = false;
    const first = readSse(url, cookieOf(c), {}, (m) => {
      if (m.event !== 'console') return false;
      const ls = (JSON.parse(m.data) as ConsoleEvent).lines;
      if (!sentHalf && ls.some((l) => wireText(l) === 'boot: one')) {
        sentHalf = true;
        void h.sb.jobs.appendLog(id, Buffer.from(text[1]!));
      }
      return ls.some((l) => l.partial && wireText(l) === 'boot: tw');
    });
    const msgs1 = await first;
    apply(view, msgs1);
    const lastId = msgs1.filter((m) => m.id).at(-1)!.id!;
    t.is(Number(lastId), Buffer.byteLength(text[0]!), 'resume at the start of the unfinished line');
    t.true([...view.values()].at(-1)!.partial);
    // Output arrives while nobody watches, then a reconnect with Last-Event-ID.
    await h.sb.jobs.appendLog(id, Buffer.from(text[2]!));
    await h.sb.jobs.appendLog(id, Buffer.from(text[3]!));
    const second = readSse(
      url.replace('from=0', 'from=999999'),
      cookieOf(c),
      { 'last-event-id': lastId },
      (m) => m.event === 'end',
    );
    await new Promise((r) => setTimeout(r, 200));
    await h.sb.scheduler.cancel(id, 'alice');
    const msgs2 = await second;
    const ids2 = msgs2
      .filter((m) => m.event === 'console')
      .flatMap((m) => (JSON.parse(m.data) as ConsoleEvent).lines.map((l) => l.id));
    t.false(
      ids2.some((x) => x < Number(lastId)),
      'nothing before the resume point is sent again',
    );
    apply(view, msgs2);
    const whole = renderAll(Buffer.from(text.join('')));
    t.deepEqual(
      [...view.keys()],
      whole.map((l) => l.start),
    );
    t.deepEqual([...view.values()].map(wireText), whole.map(lineText));
    t.deepEqual([...view.values()].map(wireText), ['boot: one', 'boot: two', 'progress 100%', 'login: ']);
    const jobEvents = msgs2.filter((m) => m.event === 'job').map((m) => JSON.parse(m.data) as JobUpdateEvent);
    t.true(jobEvents.at(-1)!.terminated);
    t.is(jobEvents.at(-1)!.exitStatus, 'job_canceled');
    t.is(msgs2.at(-1)!.event, 'end');
  } finally {
    await h.close();
  }
});

test('a second viewer opening mid-job from the page resume offset sees the same lines as the first', async (t) => {
  const h = await startWeb({}, true);
  try {
    const id = await h.job('alice');
    const c = await h.login('alice');
    await h.sb.jobs.appendLog(id, Buffer.from('\x1b[33mamber\nstill amber\x1b[0m\nhalf'));
    const page = await c.get(`/jobs/${id}`);
    const resume = Number(/data-resume="(\d+)"/.exec(page.body)![1]);
    t.is(resume, Buffer.byteLength('\x1b[33mamber\nstill amber\x1b[0m\n'));
    const live = readSse(`${h.url}/jobs/${id}/live?from=${resume}`, cookieOf(c), {}, (m) => m.event === 'end');
    await new Promise((r) => setTimeout(r, 150));
    await h.sb.jobs.appendLog(id, Buffer.from(' done\n\x1b[33mafter\n'));
    await new Promise((r) => setTimeout(r, 150));
    await h.sb.scheduler.cancel(id, 'alice');
    const view = new Map<number, WireLine>();
    apply(view, await live);
    t.deepEqual(
      [...view.values()].map((l) => [l.id, wireText(l)]),
      [
        [resume, 'half done'],
        [resume + 10, 'after'],
      ],
    );
    t.deepEqual([...view.values()][1]!.runs, [['f3', 'after']]);
    // Job events come after the ones the page had.
    const seq = Number(/data-last-seq="(\d+)"/.exec(page.body)![1]);
    t.true(seq > 0);
  } finally {
    await h.close();
  }
});

test('a live stream stops when the session is revoked', async (t) => {
  const h = await startWeb({ web: { heartbeatMs: 100 } }, true);
  try {
    const id = await h.job('alice');
    const c = await h.login('alice');
    // Once the stream is open, the session goes (as a logout elsewhere would delete it).
    const live = readSse(`${h.url}/jobs/${id}/live?from=0`, cookieOf(c), {}, () => {
      void h.sb.db.kysely.deleteFrom('web_sessions').execute();
      return false;
    });
    const msgs = await live;
    t.false(msgs.some((m) => m.event === 'end'));
  } finally {
    await h.close();
  }
});
