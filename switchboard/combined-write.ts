// Several writes of one PostgreSQL transaction as one statement: each but one becomes a
// data-modifying WITH query, which PostgreSQL runs to completion whether or not the statement
// reads it. A busy switchboard's transactions are mostly such writes (a job's row, its events, the
// change feed's notices), and each statement is a round trip that costs both ends CPU time.
//
// PostgreSQL runs the parts of one statement on one snapshot, in no set order: only writes that
// touch no row in common may go together (DbStore's held writes see to that).

import { CompiledQuery } from 'kysely';

const WRITE = /^(?:insert|update|delete) /;
const PLACEHOLDER = /\$(\d+)/g;

/**
 * Whether `query` may be a part of a combined write: a write or a select as Kysely compiles them
 * for PostgreSQL, with no literal (quoted or dollar-quoted) in which a `$N` would be renumbered.
 */
export function combinable(query: CompiledQuery): boolean {
  return /^(?:insert|update|delete|select) /.test(query.sql) && !/'|\$\$/.test(query.sql);
}

/** Combined texts kept, by their parts' texts: a busy switchboard makes the same few combinations again and again. */
const texts = new Map<string, string>();
const MAX_TEXTS = 500;

/**
 * One statement that makes every write of `writes`. At most one of them may be a select (the
 * notices): it is the statement's own query, as a WITH query that no one reads would not run.
 */
export function combineWrites(writes: CompiledQuery[]): CompiledQuery {
  const selects = writes.filter((w) => !WRITE.test(w.sql));
  if (selects.length > 1) throw new Error('a combined write holds at most one select');
  const main = selects[0] ?? writes.at(-1)!;
  const parts = [...writes.filter((w) => w !== main), main];
  const key = parts.map((w) => w.sql).join('\0');
  let sql = texts.get(key);
  if (sql === undefined) {
    sql = combinedText(parts);
    if (texts.size < MAX_TEXTS) texts.set(key, sql);
  }
  return CompiledQuery.raw(
    sql,
    parts.flatMap((w) => w.parameters),
  );
}

function combinedText(parts: CompiledQuery[]): string {
  let offset = 0;
  const renumbered = parts.map((w) => {
    const text = w.sql.replace(PLACEHOLDER, (_, n: string) => `$${Number(n) + offset}`);
    offset += w.parameters.length;
    return text;
  });
  const ctes = renumbered.slice(0, -1).map((t, i) => `w${i} as (${t})`);
  return `with ${ctes.join(', ')} ${renumbered.at(-1)}`;
}
