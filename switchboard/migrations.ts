// Versioned schema. PRAGMA user_version holds the number of migrations applied; each runs in its
// own transaction at start, so a crash mid-migration leaves the previous version intact.

import type Database from 'better-sqlite3';

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE api_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
  );
  CREATE TABLE supervisors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tags TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE jobs (
    -- rowid order is enqueue order; jobs are never deleted, so no AUTOINCREMENT bookkeeping.
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    owner_id TEXT NOT NULL REFERENCES users(id),
    request TEXT NOT NULL,
    tag_config TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT,
    status_message TEXT,
    exit_status TEXT,
    exit_message TEXT,
    supervisor_id TEXT REFERENCES supervisors(id),
    queued_at INTEGER NOT NULL,
    scheduled_at INTEGER,
    updated_at INTEGER NOT NULL,
    terminated_at INTEGER,
    log_start INTEGER NOT NULL DEFAULT 0,
    log_end INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX jobs_active ON jobs(state) WHERE state <> 'terminated';
  CREATE INDEX jobs_owner ON jobs(owner_id, seq);
  CREATE TABLE job_events (
    seq INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    by TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT,
    status_message TEXT,
    exit_status TEXT
  );
  CREATE INDEX job_events_job ON job_events(job_id, seq);
  CREATE TABLE job_log (
    job_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (job_id, offset)
  ) WITHOUT ROWID;
  `,
  // Upstream's wire name for the book's SupervisorHostStartError.
  `
  UPDATE jobs SET exit_status = 'supervisor_host_start_failure' WHERE exit_status = 'supervisor_host_start_error';
  UPDATE job_events SET exit_status = 'supervisor_host_start_failure' WHERE exit_status = 'supervisor_host_start_error';
  `,
  // Login by user name or e-mail, as upstream's `user_identifier`. API tokens become upstream's 128
  // bytes: the 32-byte ones stored so far can no longer be presented, so they go.
  `
  ALTER TABLE users ADD COLUMN email TEXT COLLATE NOCASE;
  CREATE UNIQUE INDEX users_email ON users(email) WHERE email IS NOT NULL;
  DELETE FROM api_tokens;
  `,
];

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`database schema version ${current} is newer than this switchboard knows (${MIGRATIONS.length})`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
