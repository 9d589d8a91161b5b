// The job list's query string: filters and the page cursor, parsed once into a JobFilter, and
// written back into links (pagination keeps the filters). Empty fields, as a submitted form
// sends them, mean "no filter".

import { EXECUTION_STATES, EXIT_STATUSES } from '../../protocol/job.js';
import { ValidationError, isObject, oneOf } from '../../protocol/validation.js';
import type { JobFilter } from './data.js';

/** The form's fields as typed, for showing them again. */
export interface ListForm {
  state: string;
  exit: string;
  user: string;
  supervisor: string;
  tag: string;
  image: string;
  from: string;
  until: string;
}

export interface ListQuery {
  form: ListForm;
  filter: JobFilter;
  cursor: string | null;
}

const FIELDS = ['state', 'exit', 'user', 'supervisor', 'tag', 'image', 'from', 'until'] as const;
const MAX_FIELD = 200;

function field(query: Record<string, unknown>, name: string): string {
  const v = query[name];
  if (v === undefined) return '';
  if (typeof v !== 'string') throw new ValidationError(`${name} must be given once`);
  if (v.length > MAX_FIELD) throw new ValidationError(`${name} is longer than ${MAX_FIELD} characters`);
  return v.trim();
}

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?Z?$/;

/** A UTC date or date and time; a bare date as an upper bound means the end of that day. */
export function parseTime(text: string, name: string, endOfDay: boolean): number {
  const m = TIME_RE.exec(text);
  if (!m) throw new ValidationError(`${name} must be a UTC date or time like 2026-05-01 or 2026-05-01T14:30`);
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x)));
  const ms = Date.UTC(y!, mo! - 1, d!, h ?? 0, mi ?? 0, s ?? 0);
  const back = new Date(ms);
  if (
    back.getUTCFullYear() !== y ||
    back.getUTCMonth() !== mo! - 1 ||
    back.getUTCDate() !== d ||
    (h ?? 0) > 23 ||
    (mi ?? 0) > 59 ||
    (s ?? 0) > 59
  )
    throw new ValidationError(`${name} is not a real date or time: ${text}`);
  return h === undefined && endOfDay ? ms + 86_400_000 : ms;
}

export function parseListQuery(query: unknown): ListQuery {
  const q = isObject(query) ? query : {};
  const form = Object.fromEntries(FIELDS.map((f) => [f, field(q, f)])) as unknown as ListForm;
  const cursorText = field(q, 'cursor');
  if (cursorText !== '' && !/^\d{1,15}$/.test(cursorText)) throw new ValidationError('cursor is not a page cursor');
  const filter: JobFilter = {};
  if (form.state !== '') filter.state = oneOf(form.state, EXECUTION_STATES, 'state');
  if (form.exit !== '') filter.exitStatus = oneOf(form.exit, EXIT_STATUSES, 'exit status');
  if (form.user !== '') filter.owner = form.user;
  if (form.supervisor !== '') filter.supervisor = form.supervisor;
  if (form.tag !== '') filter.tag = form.tag;
  if (form.image !== '') {
    if (!/^[0-9a-f]{4,64}$/.test(form.image))
      throw new ValidationError('image must be an image id or its first 4 or more hex digits');
    filter.image = form.image;
  }
  if (form.from !== '') filter.queuedFrom = parseTime(form.from, 'from', false);
  if (form.until !== '') filter.queuedUntil = parseTime(form.until, 'until', true);
  return { form, filter, cursor: cursorText === '' ? null : cursorText };
}

/** The query string (with its "?", or '') for the list with these form values and cursor. */
export function listQueryString(form: Partial<ListForm>, cursor: string | null = null): string {
  const params = new URLSearchParams();
  for (const f of FIELDS) {
    const v = form[f];
    if (v) params.set(f, v);
  }
  if (cursor) params.set('cursor', cursor);
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}
