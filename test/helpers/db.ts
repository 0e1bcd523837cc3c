import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { createDb, migrateLatest } from '../../src/db/connection';

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  readonly url: string;
  /** Connected as the application role, as the service is. */
  readonly db: Knex;
  /** Connected as the superuser, to play the attacker who bypasses the guards. */
  readonly admin: Knex;
  destroy(): Promise<void>;
}

/** A fresh, migrated database for one test file: lifecycle_desk_test_<worker>_<random>. Dropped by destroy(). */
export async function createTestDb(): Promise<TestDb> {
  const name = `lifecycle_desk_test_${process.env.JEST_WORKER_ID ?? '0'}_${randomBytes(4).toString('hex')}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  await migrateLatest(url.toString());
  const db = createDb(url.toString(), { poolMax: 25 });
  const admin = createDb(url.toString(), { asAppRole: false, poolMax: 2 });
  return {
    url: url.toString(),
    db,
    admin,
    async destroy() {
      await Promise.all([db.destroy(), admin.destroy()]);
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
