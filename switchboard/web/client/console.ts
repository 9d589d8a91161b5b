// The job page's one script (bundled by esbuild into static/console.js): the live console over
// Server-Sent Events, follow mode, earlier output on demand, search over the whole console with
// jumps to hits, and line anchors. Lines are built with DOM calls and textContent only, never
// from HTML strings. Without this script the page still shows everything it was sent.

import { formatClock, formatDateTime, formatOffset } from '../format.js';
import type {
  ConsoleEvent,
  ConsoleWindow,
  GapEvent,
  JobUpdateEvent,
  SearchResult,
  WireJobEvent,
  WireLine,
} from '../wire.js';

document.documentElement.classList.add('js');

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T | null;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Array<Node | string>
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function lineElement(line: WireLine, t0: number): HTMLElement {
  const ts =
    line.t === null
      ? el('span', { class: 'ts' })
      : el(
          'span',
          { class: 'ts' },
          el('span', { class: 'ta' }, formatClock(line.t)),
          el('span', { class: 'tr' }, formatOffset(line.t - t0)),
        );
  const text = el('span', { class: 'lc' });
  for (const [cls, t] of line.runs) text.append(cls === '' ? t : el('span', { class: cls }, t));
  return el(
    'div',
    { class: line.partial ? 'ln partial' : 'ln', id: `L${line.id}` },
    el('a', { class: 'la', href: `?at=${line.id}#L${line.id}` }),
    ts,
    text,
  );
}

function eventElement(e: WireJobEvent): HTMLElement {
  const what: Array<Node | string> = [];
  if (e.kind === 'exit_status') what.push('exit status ', el('b', {}, e.exitStatus ?? ''));
  else if (e.kind === 'state') {
    what.push('→ ', el('b', {}, e.state));
    if (e.stage) what.push(' ', el('span', { class: 'stage' }, e.stage));
  } else what.push(el('span', { class: 'stage' }, e.stage ?? e.state));
  if (e.message) what.push(' ', el('q', {}, e.message));
  return el(
    'li',
    { 'data-seq': String(e.seq) },
    el('time', { datetime: new Date(e.at).toISOString(), title: formatDateTime(e.at) }, formatClock(e.at)),
    ' ',
    el('span', { class: 'by' }, e.by),
    ' ',
    ...what,
  );
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
  return (await res.json()) as T;
}

function initConsole(section: HTMLElement): void {
  const jobId = section.dataset.job!;
  const base = `/jobs/${encodeURIComponent(jobId)}`;
  const t0 = Number(section.dataset.t0);
  const scroller = $<HTMLElement>('console-lines')!;
  const lines = $<HTMLElement>('lines')!;
  const status = $<HTMLElement>('console-status')!;
  const follow = $<HTMLInputElement>('follow')!;
  let lastSeq = Number(section.dataset.lastSeq);
  let source: EventSource | null = null;
  let ended = section.dataset.live !== '1';

  const setStatus = (text: string, state: string) => {
    status.textContent = text;
    status.dataset.state = state;
  };
  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 8;
  const toBottom = () => {
    scroller.scrollTop = scroller.scrollHeight;
  };

  // Follow pauses as soon as the reader scrolls up, and resumes at the bottom or on the toggle.
  scroller.addEventListener('scroll', () => {
    if (follow.disabled) return;
    const bottom = atBottom();
    if (follow.checked !== bottom) follow.checked = bottom;
    if (!ended) setStatus(bottom ? 'Live' : 'Live; follow paused', bottom ? 'live' : 'paused');
  });
  follow.addEventListener('change', () => {
    if (follow.checked) toBottom();
    if (!ended) setStatus(follow.checked ? 'Live' : 'Live; follow paused', follow.checked ? 'live' : 'paused');
  });

  const upsert = (ls: WireLine[], where: 'append' | 'prepend' = 'append') => {
    $('console-empty')?.remove();
    const frag = document.createDocumentFragment();
    for (const l of ls) {
      const node = lineElement(l, t0);
      const old = document.getElementById(node.id);
      if (old) old.replaceWith(node);
      else frag.append(node);
    }
    if (where === 'append') lines.append(frag);
    else lines.prepend(frag);
  };

  const updateJob = (u: JobUpdateEvent) => {
    const state = section.ownerDocument.querySelector<HTMLElement>('.job-status [data-role=state]');
    if (state) {
      state.className = `badge state-${u.state}`;
      state.textContent = u.state;
      if (u.stage && u.state === 'initializing') state.append(' ', el('small', {}, u.stage));
    }
    const exit = document.querySelectorAll<HTMLElement>('[data-role=exit]');
    for (const e of exit) {
      if (u.exitStatus === null) continue;
      const tone =
        u.exitStatus === 'workload_finished_success'
          ? 'ok'
          : u.exitStatus === 'job_canceled' || u.exitStatus === 'workload_finished_unknown'
            ? 'neutral'
            : 'bad';
      e.className = `badge exit-${tone}`;
      e.textContent = u.exitStatus;
    }
    const out = document.querySelector<HTMLElement>('[data-role=exit-message]');
    if (out && u.exitMessage) {
      out.textContent = u.exitMessage;
      out.hidden = false;
    }
    const msg = document.querySelector<HTMLElement>('[data-role=status]');
    if (msg) msg.textContent = u.terminated ? '' : (u.statusMessage ?? '');
    for (const e of u.events) {
      if (e.seq <= lastSeq) continue;
      lastSeq = e.seq;
      $(e.kind === 'sub_state' ? 'substates' : 'events')?.append(eventElement(e));
    }
    if (u.terminated) document.querySelector('[data-role=cancel]')?.remove();
  };

  const finish = () => {
    ended = true;
    source?.close();
    source = null;
    for (const p of lines.querySelectorAll('.partial')) p.classList.remove('partial');
    follow.disabled = true;
    setStatus('The job has ended.', 'ended');
  };

  const goLive = (from: number) => {
    ended = false;
    follow.disabled = false;
    source = new EventSource(`${base}/live?from=${from}&seq=${lastSeq}`);
    source.addEventListener('open', () => setStatus(follow.checked ? 'Live' : 'Live; follow paused', 'live'));
    source.addEventListener('console', (ev) => {
      const stick = follow.checked;
      upsert((JSON.parse((ev as MessageEvent<string>).data) as ConsoleEvent).lines);
      if (stick) toBottom();
    });
    source.addEventListener('job', (ev) => updateJob(JSON.parse((ev as MessageEvent<string>).data) as JobUpdateEvent));
    source.addEventListener('gap', (ev) => {
      const g = JSON.parse((ev as MessageEvent<string>).data) as GapEvent;
      lines.append(el('p', { class: 'gap' }, `Output between bytes ${g.from} and ${g.to} is no longer stored.`));
    });
    source.addEventListener('end', finish);
    // EventSource reconnects by itself, sending the last console offset as Last-Event-ID.
    source.addEventListener('error', () => {
      if (!ended) setStatus('Connection lost; reconnecting…', 'reconnecting');
    });
  };

  // Earlier output, loaded on demand; the view stays on the line the reader was looking at.
  const wireEarlier = (link: HTMLAnchorElement) =>
    link.addEventListener('click', async (ev) => {
      ev.preventDefault();
      const before = Number(link.dataset.before);
      const w = await getJson<ConsoleWindow>(`${base}/console.json?before=${before}`);
      const height = scroller.scrollHeight;
      upsert(w.lines, 'prepend');
      scroller.scrollTop += scroller.scrollHeight - height;
      if (w.from > w.logStart && w.lines.length > 0) link.dataset.before = String(w.from);
      else if (w.logStart > 0)
        link.replaceWith(el('p', { class: 'gap' }, `Output before byte ${w.logStart} is no longer stored.`));
      else link.remove();
    });
  const earlier = scroller.querySelector<HTMLAnchorElement>('a.earlier');
  if (earlier) wireEarlier(earlier);

  /** Shows the window around line `id` when it is not on the page, then marks and scrolls to it. */
  const jumpTo = async (id: number) => {
    let line = document.getElementById(`L${id}`);
    if (!line) {
      const w = await getJson<ConsoleWindow>(`${base}/console.json?at=${id}`);
      source?.close();
      source = null;
      lines.replaceChildren();
      upsert(w.lines);
      scroller.querySelector('a.earlier, p.gap')?.remove();
      for (const a of scroller.querySelectorAll('a.later')) a.remove();
      if (w.from > w.logStart) {
        const link = el(
          'a',
          { class: 'earlier', href: `${base}?before=${w.from}#console`, 'data-before': String(w.from) },
          'Earlier output',
        );
        scroller.prepend(link);
        wireEarlier(link);
      }
      if (w.next < w.logEnd || !ended) {
        scroller.append(el('a', { class: 'later', href: `${base}#console` }, 'Jump to the end'));
      }
      ended = true;
      follow.checked = false;
      follow.disabled = true;
      setStatus('Showing part of the console.', 'partial');
      line = document.getElementById(`L${id}`);
    }
    if (!line) return;
    follow.checked = false;
    for (const old of lines.querySelectorAll('.target')) old.classList.remove('target');
    line.classList.add('target');
    line.scrollIntoView({ block: 'center' });
    history.replaceState(null, '', `${base}?at=${id}#L${id}`);
  };

  lines.addEventListener('click', (ev) => {
    const a = (ev.target as HTMLElement).closest<HTMLAnchorElement>('a.la');
    if (!a) return;
    ev.preventDefault();
    void jumpTo(Number(a.parentElement!.id.slice(1)));
  });

  // Search runs on the server over the whole console; hits are listed and jumped to.
  const form = section.querySelector<HTMLFormElement>('form.search')!;
  const results = $<HTMLElement>('search-results')!;
  let hits: SearchResult['hits'] = [];
  let current = -1;
  let lastQuery = '';
  let truncated = false;
  const show = (i: number) => {
    current = (i + hits.length) % hits.length;
    for (const li of results.querySelectorAll('li')) li.classList.toggle('current', li.dataset.i === String(current));
    const counter = results.querySelector('.count');
    if (counter) counter.textContent = `${current + 1} of ${hits.length}${truncated ? '+' : ''}`;
    void jumpTo(hits[current]!.id);
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = new FormData(form).get('q')?.toString() ?? '';
    if (q !== '' && q === lastQuery && hits.length > 0) return show(current + 1);
    lastQuery = q;
    results.hidden = false;
    results.replaceChildren(el('p', {}, 'Searching…'));
    const r = await getJson<SearchResult>(`${base}/search.json?q=${encodeURIComponent(q)}`);
    hits = r.hits;
    truncated = r.truncated;
    current = -1;
    if (hits.length === 0) {
      results.replaceChildren(el('p', {}, q === '' ? '' : 'No line matches.'));
      return;
    }
    const prev = el('button', { type: 'button' }, '‹ Previous');
    const next = el('button', { type: 'button' }, 'Next ›');
    prev.addEventListener('click', () => show(current - 1));
    next.addEventListener('click', () => show(current + 1));
    const list = el('ol', { class: 'hits' });
    hits.forEach((h, i) => {
      const a = el('a', { href: `${base}?at=${h.id}#L${h.id}`, class: 'mono' }, h.text);
      a.addEventListener('click', (e) => {
        e.preventDefault();
        show(i);
      });
      list.append(el('li', { 'data-i': String(i) }, a));
    });
    results.replaceChildren(el('div', { class: 'hit-nav' }, el('span', { class: 'count' }), prev, next), list);
    show(0);
  });

  if (!ended) goLive(Number(section.dataset.resume));
  const m = /^#L(\d+)$/.exec(location.hash);
  if (m) void jumpTo(Number(m[1]));
  else if (follow.checked) toBottom();
}

const section = $<HTMLElement>('console');
if (section) initConsole(section);
