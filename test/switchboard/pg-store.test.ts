// The store conformance suite on PostgreSQL: the same behaviour as SQLite's, each test on a database
// of its own.

import { DbStore } from '../../switchboard/db-store.js';
import { connectPostgres, postgresDialect } from '../../switchboard/pg-store.js';
import { createDatabase, postgresTest } from './postgres.js';
import { storeConformance } from './store-conformance.js';

storeConformance(
  'PostgreSQL',
  async () => {
    const db = await createDatabase();
    const store = await DbStore.connect(await connectPostgres(db.url), postgresDialect);
    return {
      store,
      dispose: async () => {
        await store.close();
        await db.drop();
      },
    };
  },
  postgresTest(),
);
