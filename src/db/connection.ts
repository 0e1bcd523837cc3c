import knexFactory from 'knex';
import type { Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from '../../migrations';
import type { Logger } from '../observability/logger';

/** The role the service runs as; see migrations/20261122090000_create_app_role.ts. */
export const APP_ROLE = 'lifecycle_desk_app';

export interface DbOptions {
  /** Assume the restricted application role on every connection (the service); false for migrations and admin tools. */
  readonly asAppRole?: boolean;
  readonly poolMax?: number;
  /** Milliseconds a query may run before PostgreSQL cancels it. */
  readonly statementTimeoutMs?: number;
  /** Milliseconds to wait for a pooled connection before failing (and answering 503). */
  readonly acquireTimeoutMs?: number;
  /** Where Knex's own warnings go (pool and connection errors); default Knex's console output. */
  readonly logger?: Pick<Logger, 'warn' | 'error'>;
}

export function createDb(databaseUrl: string, opts: DbOptions = {}): Knex {
  const { asAppRole = true, poolMax = 10, statementTimeoutMs = 15_000, acquireTimeoutMs = 10_000, logger } = opts;
  // Knex passes a message (or an Error); only its text is logged, never bindings.
  const text = (m: unknown) => (m instanceof Error ? m.message : String(m));
  return knexFactory({
    ...(logger
      ? {
          log: {
            warn: (m: unknown) => logger.warn({ component: 'knex' }, text(m)),
            error: (m: unknown) => logger.error({ component: 'knex' }, text(m)),
            deprecate: (m: unknown) => logger.warn({ component: 'knex' }, text(m)),
            debug: () => undefined,
          },
        }
      : {}),
    client: 'pg',
    connection: { connectionString: databaseUrl, statement_timeout: statementTimeoutMs, connectionTimeoutMillis: 5_000 },
    pool: {
      min: 0,
      max: poolMax,
      afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
        if (!asAppRole) return done(null, conn);
        conn.query(`SET ROLE ${APP_ROLE}`).then(
          () => done(null, conn),
          (err: Error) => done(new Error(`cannot SET ROLE ${APP_ROLE} (run \`lifecycle-desk migrate\` first): ${err.message}`), conn),
        );
      },
    },
    acquireConnectionTimeout: acquireTimeoutMs,
  });
}

/** Creates the database named in the URL if it does not exist (connecting to the `postgres` maintenance database). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new Error('DATABASE_URL names no database');
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } catch (err) {
      // Another process created it between our check and our CREATE.
      if ((err as { code?: string }).code !== '42P04') throw err;
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}

/** Creates the database if needed and applies every pending migration. Returns the names applied. */
export async function migrateLatest(databaseUrl: string): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  const db = createDb(databaseUrl, { asAppRole: false, poolMax: 2 });
  try {
    const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
    return applied;
  } finally {
    await db.destroy();
  }
}
