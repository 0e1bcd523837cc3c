import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { APP_ROLE, createDb, migrateLatest } from '../../src/db/connection';

const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  /** The runtime role's URL (DATABASE_URL), as the service logs in. */
  readonly url: string;
  /** The owner's URL (MIGRATE_DATABASE_URL): migrations, and the attacker who bypasses the guards. */
  readonly adminUrl: string;
  /** Connected as the application role, as the service is. */
  readonly db: Knex;
  /** Connected as the superuser, to play the attacker who bypasses the guards. */
  readonly admin: Knex;
  destroy(): Promise<void>;
}

/** `url` with another user (no password: the local server trusts loopback). */
export function asUser(url: string, user: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = '';
  return u.toString();
}

/** A fresh, migrated database for one test file: lifecycle_desk_test_<worker>_<random>. Dropped by destroy(). */
export async function createTestDb(): Promise<TestDb> {
  const name = `lifecycle_desk_test_${process.env.JEST_WORKER_ID ?? '0'}_${randomBytes(4).toString('hex')}`;
  const admin = new URL(ADMIN_URL);
  admin.pathname = `/${name}`;
  const adminUrl = admin.toString();
  await migrateLatest(adminUrl);
  const url = asUser(adminUrl, APP_ROLE);
  const db = createDb(url, { poolMax: 25 });
  const adminDb = createDb(adminUrl, { poolMax: 2 });
  return {
    url,
    adminUrl,
    db,
    admin: adminDb,
    async destroy() {
      await Promise.all([db.destroy(), adminDb.destroy()]);
      await dropDatabase(name);
    },
  };
}

export async function dropDatabase(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/**
 * Puts a record in a state the service's role could not reach by itself (the state-machine
 * trigger refuses anything but one transition at a time): as the owner, with triggers off.
 * For setting up a scenario, never for what is under test.
 */
export async function forceRecord(t: Pick<TestDb, 'admin'>, id: string, patch: Record<string, unknown>): Promise<void> {
  await t.admin.transaction(async (trx) => {
    await trx.raw('SET LOCAL session_replication_role = replica');
    await trx('lifecycle_records').where({ id }).update(patch);
  });
}
