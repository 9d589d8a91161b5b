// What one database engine does its own way under the one store (db-store.ts): how the schema
// version is kept, how replicas starting together take turns to migrate, and which of its errors
// mean "the database cannot be used now". Everything else (queries, migrations, transactions) is
// Kysely's and the same for every engine.

import type { CompiledQuery, Transaction } from 'kysely';
import type { MigrationDialect } from './migrations.js';
import type { Tables } from './schema.js';

export interface StoreDialect {
  readonly name: 'sqlite' | 'postgres';
  readonly migrations: MigrationDialect;
  /** Whether `SELECT ... FOR UPDATE` locks rows (PostgreSQL); SQLite's transactions are serial anyway. */
  readonly rowLocks: boolean;
  /** Holds off every other store on the database until the transaction ends (replicas migrating at once). */
  lockForMigration(trx: Transaction<Tables>): Promise<void>;
  /** The schema version the database is at (0 for an empty one). */
  readVersion(trx: Transaction<Tables>): Promise<number>;
  writeVersion(trx: Transaction<Tables>, version: number): Promise<void>;
  /** `full` or `unavailable` for a driver error that means the database cannot be used now; null otherwise. */
  unavailableKind(err: unknown): 'full' | 'unavailable' | null;
  /** Whether a driver error is a unique or primary key violation (two writers claimed one name or id). */
  isConflict(err: unknown): boolean;
  /**
   * The statement that tells the other switchboards on the database each payload (the change
   * feed's channel); in a transaction, when it commits and only if it does. Null where one
   * switchboard has the database alone.
   */
  notifyQuery(payloads: string[]): CompiledQuery | null;
  /**
   * How the engine makes several writes of a transaction in one statement (see DbStore's held
   * writes); null where each is best run alone (SQLite answers in-process: a statement costs it no
   * round trip).
   */
  readonly writeCombiner: WriteCombiner | null;
}

export interface WriteCombiner {
  /** Whether `query` (a write, or the notices' select) may be a part of a combined write. */
  combinable(query: CompiledQuery): boolean;
  /** One statement that makes every write of `writes`, which touch no row in common. */
  combine(writes: CompiledQuery[]): CompiledQuery;
}
