// How upstream's `tml` 0.3 (treadmill-rs 0.3.0, serde + serde_json) reads the switchboard's answers,
// written down from its type definitions, independently of our encoder and our client's parsers.
// Rules of serde's derive that matter here: unknown keys are ignored; an `Option<T>` key may be
// missing (None); every other key is required; `#[serde(tag = "...")]` enums are internally
// tagged, unit variants included; `#[serde(flatten)]` reads the inner type from the same object.

export type Schema = (value: unknown, path: string) => void;

export class SerdeError extends Error {}

const fail = (path: string, what: string): never => {
  throw new SerdeError(`${path}: ${what}`);
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const string: Schema = (v, p) => void (typeof v === 'string' || fail(p, 'expected a string'));

export const u16: Schema = (v, p) =>
  void ((typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535) || fail(p, 'expected u16'));

/** uuid::Uuid accepts the hyphenated, simple, braced and URN forms, any case. */
export const uuid: Schema = (v, p) => {
  const s = typeof v === 'string' ? v : fail(p, 'expected a UUID string');
  const hex = s.replace(/^urn:uuid:/i, '').replace(/^\{(.*)\}$/, '$1');
  if (!/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(hex)) fail(p, 'invalid UUID');
};

/** chrono's DateTime<Utc> deserializes RFC 3339 with any offset. */
export const datetime: Schema = (v, p) => {
  const s = typeof v === 'string' ? v : fail(p, 'expected an RFC 3339 string');
  if (!/^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/.test(s)) fail(p, 'not RFC 3339');
};

/** `AuthToken`: serde_with Base64 (standard alphabet, padded) of exactly [u8; 128]. */
export const authToken: Schema = (v, p) => {
  const s = typeof v === 'string' ? v : fail(p, 'expected a base64 string');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) fail(p, 'not padded standard base64');
  const bytes = Buffer.from(s, 'base64');
  if (bytes.toString('base64') !== s) fail(p, 'not canonical base64');
  if (bytes.length !== 128) fail(p, `expected 128 bytes, got ${bytes.length}`);
};

export const unitEnum =
  (...variants: string[]): Schema =>
  (v, p) =>
    void ((typeof v === 'string' && variants.includes(v)) || fail(p, `expected one of ${variants.join(', ')}`));

export const option =
  (inner: Schema): Schema =>
  (v, p) =>
    v === undefined || v === null ? undefined : inner(v, p);

export const vec =
  (inner: Schema): Schema =>
  (v, p) => {
    if (!Array.isArray(v)) fail(p, 'expected an array');
    (v as unknown[]).forEach((e, i) => inner(e, `${p}[${i}]`));
  };

export const hashMap =
  (key: Schema, inner: Schema): Schema =>
  (v, p) => {
    if (!isObj(v)) fail(p, 'expected a map');
    for (const [k, e] of Object.entries(v as Record<string, unknown>)) {
      key(k, `${p} key`);
      inner(e, `${p}.${k}`);
    }
  };

/** Fields of a struct; a field given as `opt(...)` may be missing. */
export type Fields = Record<string, Schema>;

function fields(obj: Record<string, unknown>, f: Fields, p: string): void {
  for (const [name, schema] of Object.entries(f)) {
    if (!(name in obj) && (schema as { optional?: boolean }).optional !== true) fail(p, `missing field \`${name}\``);
    schema(obj[name], `${p}.${name}`);
  }
}

/** Marks a field that serde would fill in when missing (Option<T>, #[serde(default)]). */
export const opt = (inner: Schema): Schema => Object.assign(option(inner), { optional: true });

export const struct =
  (f: Fields): Schema =>
  (v, p) => {
    if (!isObj(v)) fail(p, 'expected an object');
    fields(v as Record<string, unknown>, f, p);
  };

/** `#[serde(tag = TAG)]` enum; `null` marks a unit variant. */
export const tagged =
  (tag: string, variants: Record<string, Fields | null>, extra: Fields = {}): Schema =>
  (v, p) => {
    if (!isObj(v)) fail(p, 'expected an object');
    const obj = v as Record<string, unknown>;
    const t = obj[tag];
    if (typeof t !== 'string') fail(p, `missing field \`${tag}\``);
    if (!Object.hasOwn(variants, t as string)) fail(p, `unknown variant \`${String(t)}\``);
    const f = variants[t as string];
    if (f) fields(obj, f, p);
    // Fields of a struct this enum is flattened into.
    fields(obj, extra, p);
  };

export function check(schema: Schema, value: unknown): void {
  schema(value, '$');
}

// -- treadmill-rs 0.3.0 api::switchboard and api::switchboard_supervisor --

const exitStatus = unitEnum(
  'supervisor_match_error',
  'queue_timeout',
  'internal_supervisor_error',
  'supervisor_host_start_failure',
  'supervisor_dropped_job',
  'job_canceled',
  'job_timeout',
  'workload_finished_success',
  'workload_finished_error',
  'workload_finished_unknown',
);
const stage = unitEnum('starting', 'fetching_image', 'allocating', 'provisioning', 'booting');

export const LoginResponse = struct({ token: authToken, expires_at: datetime });

const JobResult = struct({
  job_id: uuid,
  supervisor_id: opt(uuid),
  exit_status: exitStatus,
  host_output: opt(string),
  terminated_at: datetime,
});

/** `ExtendedJobState`: `JobState` (tag `type`) flattened with the rest. */
const ExtendedJobState = tagged(
  'type',
  { queued: null, scheduled: null, initializing: { stage }, ready: null, terminating: null, terminated: null },
  {
    dispatched_to_supervisor: opt(uuid),
    ssh_endpoints: opt(vec(struct({ host: string, port: u16 }))),
    ssh_user: opt(string),
    ssh_host_keys: opt(vec(string)),
    result: opt(JobResult),
  },
);

export const JobStatus = struct({ state: ExtendedJobState, as_of: datetime });

const RunningJobState = tagged('state', {
  initializing: { stage },
  ready: null,
  terminating: null,
  terminated: null,
});

export const SupervisorStatus = tagged('status', {
  busy: { job_id: uuid, job_state: RunningJobState },
  busy_disconnected: { job_id: uuid, job_state: RunningJobState },
  idle: null,
  disconnected: null,
});

export const SubmitResponse = tagged('type', {
  ok: { job_id: uuid },
  supervisor_match_error: null,
  unauthorized: null,
  internal: null,
});
export const JobStatusResponse = tagged('type', { ok: { job_status: JobStatus }, invalid: null, internal: null });
export const StopResponse = tagged('type', { ok: null, invalid: null, internal: null });
export const ListJobsResponse = tagged('type', {
  ok: { jobs: hashMap(uuid, JobStatus) },
  unauthorized: null,
  internal: null,
});
export const ListSupervisorsResponse = tagged('type', {
  ok: { supervisors: hashMap(uuid, SupervisorStatus) },
  unauthorized: null,
  internal: null,
});
export const SupervisorStatusResponse = tagged('type', {
  ok: { status: SupervisorStatus },
  invalid: null,
  internal: null,
});
