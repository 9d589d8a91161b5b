// Every query of the switchboard's store, built with Kysely so that each dialect compiles the same
// query to its own SQL. A store executes what these return; none of them holds SQL text.

import { sql, type Kysely } from 'kysely';
import type { JobPageQuery, JobUpdate, ListedJobsQuery, NewJobEvent } from './store.js';
import type { Tables } from './schema.js';

/**
 * `terminated` in the text of a query rather than as a parameter: only then do the engines use the
 * indexes of jobs in progress (`where state <> 'terminated'`), a predicate they match as written.
 * As a parameter, the plan prepared once reads every job ever run.
 */
const NOT_TERMINATED = sql.lit<'terminated'>('terminated');

/** Jobs in progress on one supervisor read at most: one, or a few after something went wrong. */
const ACTIVE_JOBS_READ = 8;

type Db = Kysely<Tables>;

/** Values of `column` that hold `text`, its %, _ and backslash taken literally. */
const holds = (column: string, text: string) =>
  // The escape character is a parameter: as a literal, '\' means one backslash to PostgreSQL only
  // while standard_conforming_strings is on.
  sql<boolean>`${sql.ref(column)} like ${`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`} escape ${'\\'}`;

/** Every column of a job but its request. */
export const JOB_COLUMNS = [
  'seq',
  'id',
  'owner_id',
  'tag_config',
  'state',
  'stage',
  'status_message',
  'exit_status',
  'exit_message',
  'supervisor_id',
  'queued_at',
  'scheduled_at',
  'updated_at',
  'terminated_at',
  'log_start',
  'log_end',
  'init_spec',
  'restart_of',
  'override_timeout',
] as const;

export const queries = {
  ping: (db: Db) => db.selectNoFrom(sql<number>`1`.as('one')),
  insertUser: (db: Db, row: Tables['users']) => db.insertInto('users').values(row),
  userByName: (db: Db, name: string) => db.selectFrom('users').selectAll().where('name', '=', name),
  userByEmail: (db: Db, email: string) =>
    db
      .selectFrom('users')
      .selectAll()
      .where((eb) => eb(eb.fn('lower', ['email']), '=', eb.fn('lower', [eb.val(email)]))),
  userById: (db: Db, id: string) => db.selectFrom('users').selectAll().where('id', '=', id),

  users: (db: Db) => db.selectFrom('users').selectAll().orderBy('name'),
  jobsOfOwner: (db: Db, ownerId: string) => db.selectFrom('jobs').select('id').where('owner_id', '=', ownerId).limit(1),
  deleteUser: (db: Db, id: string) => db.deleteFrom('users').where('id', '=', id),
  setUserLocked: (db: Db, id: string, at: number | null) =>
    db.updateTable('users').set({ locked_at: at }).where('id', '=', id),
  insertToken: (db: Db, row: Tables['api_tokens']) => db.insertInto('api_tokens').values(row),
  tokens: (db: Db) =>
    db
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select(['t.token_hash', 't.user_id', 'u.name as user_name', 't.created_at', 't.expires_at'])
      .orderBy('t.created_at', 'desc')
      .orderBy('t.token_hash'),
  deleteToken: (db: Db, hash: Buffer) => db.deleteFrom('api_tokens').where('token_hash', '=', hash),
  tokenByHash: (db: Db, hash: Buffer) =>
    db
      .selectFrom('api_tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .selectAll('u')
      .select(['t.token_hash', 't.expires_at'])
      .where('t.token_hash', '=', hash),
  userTokens: (db: Db, userId: string, now: number, limit: number) =>
    db
      .selectFrom('api_tokens')
      .select(['token_hash', 'created_at', 'expires_at'])
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .orderBy('created_at', 'desc')
      .orderBy('token_hash')
      .limit(limit),
  deleteUserToken: (db: Db, userId: string, hash: Buffer) =>
    db.deleteFrom('api_tokens').where('user_id', '=', userId).where('token_hash', '=', hash),
  pruneTokens: (db: Db, now: number) =>
    db.deleteFrom('api_tokens').where('expires_at', 'is not', null).where('expires_at', '<=', now),

  insertSession: (db: Db, row: Tables['web_sessions']) => db.insertInto('web_sessions').values(row),
  session: (db: Db, hash: Buffer) =>
    db
      .selectFrom('web_sessions as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .selectAll('u')
      .select(['s.token_hash', 's.expires_at'])
      .where('s.token_hash', '=', hash)
      .where('u.locked_at', 'is', null),
  deleteSession: (db: Db, hash: Buffer) => db.deleteFrom('web_sessions').where('token_hash', '=', hash),
  pruneSessions: (db: Db, now: number) => db.deleteFrom('web_sessions').where('expires_at', '<=', now),

  insertSupervisor: (db: Db, row: Tables['supervisors']) => db.insertInto('supervisors').values(row),
  supervisors: (db: Db) => db.selectFrom('supervisors').selectAll().orderBy('name'),
  supervisorById: (db: Db, id: string) => db.selectFrom('supervisors').selectAll().where('id', '=', id),
  supervisorByName: (db: Db, name: string) => db.selectFrom('supervisors').selectAll().where('name', '=', name),
  supervisorLastSeen: (db: Db, id: string) =>
    db
      .selectFrom('job_events as e')
      .innerJoin('jobs as j', 'j.id', 'e.job_id')
      .select((eb) => eb.fn.max<number | null>('e.at').as('at'))
      .where('j.supervisor_id', '=', id)
      .where('e.by', '=', 'supervisor'),
  activeJobOn: (db: Db, supervisorId: string) =>
    db
      .selectFrom('jobs')
      .select('id')
      .where('supervisor_id', '=', supervisorId)
      .where('state', '<>', NOT_TERMINATED)
      .limit(ACTIVE_JOBS_READ),
  forgetSupervisor: (db: Db, supervisorId: string) =>
    db.updateTable('jobs').set({ supervisor_id: null }).where('supervisor_id', '=', supervisorId),
  deleteSupervisor: (db: Db, id: string) => db.deleteFrom('supervisors').where('id', '=', id),
  setSupervisorTags: (db: Db, id: string, tags: string) =>
    db.updateTable('supervisors').set({ tags }).where('id', '=', id),

  insertJobs: (db: Db, rows: Array<Omit<Tables['jobs'], 'seq' | 'log_start' | 'log_end'>>) =>
    db.insertInto('jobs').values(rows).returning(JOB_COLUMNS),
  jobById: (db: Db, id: string) => db.selectFrom('jobs').select(JOB_COLUMNS).where('id', '=', id),
  jobAndRequest: (db: Db, id: string) =>
    db.selectFrom('jobs').select(JOB_COLUMNS).select('request').where('id', '=', id),
  jobRequest: (db: Db, id: string) => db.selectFrom('jobs').select('request').where('id', '=', id),
  activeJobs: (db: Db) =>
    db
      .selectFrom('jobs')
      .select(JOB_COLUMNS)
      .select((eb) => eb.fn<number>('octet_length', ['request']).as('request_bytes'))
      .where('state', '<>', NOT_TERMINATED)
      .orderBy('seq'),
  jobPage: (db: Db, p: JobPageQuery) => {
    let q = db.selectFrom('jobs').select(JOB_COLUMNS);
    if (p.beforeSeq !== undefined) q = q.where('seq', '<', p.beforeSeq);
    if (p.ownerId !== undefined) q = q.where('owner_id', '=', p.ownerId);
    if (p.state !== undefined) q = q.where('state', '=', p.state);
    if (p.exitStatus !== undefined) q = q.where('exit_status', '=', p.exitStatus);
    if (p.supervisorId !== undefined) q = q.where('supervisor_id', '=', p.supervisorId);
    if (p.queuedFrom !== undefined) q = q.where('queued_at', '>=', p.queuedFrom);
    return q.orderBy('seq', 'desc').limit(p.limit);
  },
  listedJobs: (db: Db, p: ListedJobsQuery) => {
    let q = db
      .selectFrom('jobs as j')
      .innerJoin('users as u', 'u.id', 'j.owner_id')
      .leftJoin('supervisors as s', 's.id', 'j.supervisor_id')
      .select(JOB_COLUMNS.map((c) => `j.${c}` as const))
      .select(['u.name as owner_name', 's.name as supervisor_name']);
    if (p.beforeSeq !== undefined) q = q.where('j.seq', '<', p.beforeSeq);
    if (p.ownerId !== undefined) q = q.where('j.owner_id', '=', p.ownerId);
    if (p.ownerName !== undefined) q = q.where('u.name', '=', p.ownerName);
    if (p.state !== undefined) q = q.where('j.state', '=', p.state);
    if (p.exitStatus !== undefined) q = q.where('j.exit_status', '=', p.exitStatus);
    const sup = p.supervisor;
    if (sup !== undefined) q = q.where((eb) => eb.or([eb('j.supervisor_id', '=', sup), eb('s.name', '=', sup)]));
    if (p.tagText !== undefined) q = q.where(holds('j.tag_config', p.tagText));
    // init_spec is the JSON.stringify of the image spec, so an image id follows its key directly.
    if (p.imagePrefix !== undefined) q = q.where(holds('j.init_spec', `"image_id":"${p.imagePrefix}`));
    if (p.queuedFrom !== undefined) q = q.where('j.queued_at', '>=', p.queuedFrom);
    if (p.queuedUntil !== undefined) q = q.where('j.queued_at', '<', p.queuedUntil);
    return q.orderBy('j.seq', 'desc').limit(p.limit);
  },
  // Named one by one: a caller may pass a whole row, whose log bounds must not be written back.
  updateJob: (db: Db, u: JobUpdate) =>
    db
      .updateTable('jobs')
      .set({
        state: u.state,
        stage: u.stage,
        status_message: u.status_message,
        exit_status: u.exit_status,
        exit_message: u.exit_message,
        supervisor_id: u.supervisor_id,
        scheduled_at: u.scheduled_at,
        updated_at: u.updated_at,
        terminated_at: u.terminated_at,
        ...(u.log && { log_start: u.log.start, log_end: u.log.end }),
      })
      .where('id', '=', u.id),

  insertEvents: (db: Db, events: NewJobEvent[]) => db.insertInto('job_events').values(events),
  events: (db: Db, jobId: string, after: number, limit: number) =>
    db
      .selectFrom('job_events')
      .selectAll()
      .where('job_id', '=', jobId)
      .where('seq', '>', after)
      .orderBy('seq')
      .limit(limit),
  eventCount: (db: Db, jobId: string) =>
    db
      .selectFrom('job_events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('job_id', '=', jobId),

  insertLog: (db: Db, jobId: string, offset: number, data: Buffer) =>
    db.insertInto('job_log').values({ job_id: jobId, offset, data }),
  setLogBounds: (db: Db, jobId: string, start: number, end: number) =>
    db.updateTable('jobs').set({ log_start: start, log_end: end }).where('id', '=', jobId),
  // Chunks are contiguous, so "the chunk holding byte N" is the last one starting at or before N;
  // the two queries below find it through the primary key instead of scanning the job's log.
  pruneLog: (db: Db, jobId: string, cutoff: number) =>
    db
      .deleteFrom('job_log')
      .where('job_id', '=', jobId)
      .where('offset', '<', (eb) =>
        eb
          .selectFrom('job_log')
          .select((e) => e.fn.max('offset').as('o'))
          .where('job_id', '=', jobId)
          .where('offset', '<=', cutoff),
      ),
  firstLogOffset: (db: Db, jobId: string) =>
    db
      .selectFrom('job_log')
      .select((eb) => eb.fn.min('offset').as('o'))
      .where('job_id', '=', jobId),
  readLog: (db: Db, jobId: string, pos: number, limit: number) =>
    db
      .selectFrom('job_log')
      .select(['offset', 'data'])
      .where('job_id', '=', jobId)
      .where('offset', '>=', (eb) =>
        eb.fn.coalesce(
          eb
            .selectFrom('job_log')
            .select((e) => e.fn.max('offset').as('o'))
            .where('job_id', '=', jobId)
            .where('offset', '<=', pos),
          eb.lit(0),
        ),
      )
      .where((eb) => eb(eb('offset', '+', eb.fn<number>('length', ['data'])), '>', pos))
      .orderBy('offset')
      .limit(limit),
  lastLogOffset: (db: Db, jobId: string) =>
    db
      .selectFrom('job_log')
      .select((eb) => eb.fn.max<number | null>('offset').as('o'))
      .where('job_id', '=', jobId),

  // Console time marks, keyed like the chunks: the mark in force at byte N is the last at or before N.
  putConsoleTime: (db: Db, row: Tables['web_console_times']) =>
    db
      .insertInto('web_console_times')
      .values(row)
      .onConflict((oc) => oc.columns(['job_id', 'offset']).doUpdateSet({ at: row.at })),
  pruneConsoleTimes: (db: Db, jobId: string, start: number) =>
    db
      .deleteFrom('web_console_times')
      .where('job_id', '=', jobId)
      .where('offset', '<', (eb) =>
        eb
          .selectFrom('web_console_times')
          .select((e) => e.fn.max('offset').as('o'))
          .where('job_id', '=', jobId)
          .where('offset', '<=', start),
      ),
  consoleTimes: (db: Db, jobId: string, from: number, to: number, limit: number) =>
    db
      .selectFrom('web_console_times')
      .select(['offset', 'at'])
      .where('job_id', '=', jobId)
      .where('offset', '>=', (eb) =>
        eb.fn.coalesce(
          eb
            .selectFrom('web_console_times')
            .select((e) => e.fn.max('offset').as('o'))
            .where('job_id', '=', jobId)
            .where('offset', '<=', from),
          eb.lit(0),
        ),
      )
      .where('offset', '<', to)
      .orderBy('offset')
      .limit(limit),
};
