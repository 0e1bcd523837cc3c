import knexFactory from 'knex';
import type { Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from '../../migrations';
import { ConfigError } from '../config';
import type { Logger } from '../observability/logger';

/**
 * The login role the service runs as (DATABASE_URL); migrations create it and give it only the
 * grants listed in the README ("Database roles and grants"). Migrations run as the owner
 * (MIGRATE_DATABASE_URL). The service never holds the owner's credentials, so nothing it runs
 * (no RESET ROLE, no injected statement) can disable a trigger or rewrite history.
 */
export const APP_ROLE = 'lifecycle_desk_app';

export interface DbOptions {
  readonly poolMax?: number;
  /** Milliseconds a query may run before PostgreSQL cancels it. */
  readonly statementTimeoutMs?: number;
  /**
   * Milliseconds a connection may sit idle inside an open transaction before PostgreSQL ends the
   * session (`idle_in_transaction_session_timeout`). Transactions here only ever wait on the
   * database itself, never on a network call, so the service sets this low: a regression that
   * calls an outside API inside a transaction fails loudly instead of parking connections.
   */
  readonly idleInTransactionTimeoutMs?: number;
  /** Milliseconds to wait for a pooled connection before failing (and answering 503). */
  readonly acquireTimeoutMs?: number;
  /** Where Knex's own warnings go (pool and connection errors); default Knex's console output. */
  readonly logger?: Pick<Logger, 'warn' | 'error'>;
  /**
   * Check every new connection's role with {@link assertRestrictedRole} before it is used (the
   * service). Start-up checks once too; this covers a database that was down at start-up.
   */
  readonly restrictedRoleOnly?: boolean;
}

export function createDb(databaseUrl: string, opts: DbOptions = {}): Knex {
  const { poolMax = 10, statementTimeoutMs = 15_000, acquireTimeoutMs = 10_000, logger, restrictedRoleOnly = false, idleInTransactionTimeoutMs } = opts;
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
    connection: {
      connectionString: databaseUrl,
      statement_timeout: statementTimeoutMs,
      connectionTimeoutMillis: 5_000,
      ...(idleInTransactionTimeoutMs ? { idle_in_transaction_session_timeout: idleInTransactionTimeoutMs } : {}),
    },
    pool: {
      min: 0,
      max: poolMax,
      ...(restrictedRoleOnly
        ? {
            afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
              // A refused connection is closed here: the pool does not close what afterCreate rejects.
              const refuse = (err: Error) =>
                void conn.end().then(
                  () => done(err, conn),
                  () => done(err, conn),
                );
              conn.query<RoleRow>(ROLE_QUERY).then((r) => {
                try {
                  assertRestrictedRole(roleCheckOf(r.rows[0]!));
                  done(null, conn);
                } catch (err) {
                  refuse(err as Error);
                }
              }, refuse);
            },
          }
        : {}),
    },
    acquireConnectionTimeout: acquireTimeoutMs,
  });
}

/** What `DATABASE_URL` logs in as, as far as tampering goes. */
export interface RoleCheck {
  readonly role: string;
  readonly superuser: boolean;
  /** Objects of the schema this role owns, or could SET ROLE to an owner of (an owner can disable triggers). */
  readonly ownedObjects: number;
}

interface RoleRow {
  role: string;
  superuser: boolean;
  owned: string;
}

const ROLE_QUERY = `
  SELECT r.rolname AS role, r.rolsuper AS superuser,
         (SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND pg_has_role(r.oid, c.relowner, 'MEMBER')) AS owned
    FROM pg_roles r WHERE r.rolname = current_user`;

const roleCheckOf = (r: RoleRow): RoleCheck => ({ role: r.role, superuser: r.superuser, ownedObjects: Number(r.owned) });

export async function inspectRole(db: Knex): Promise<RoleCheck> {
  const { rows } = await db.raw<{ rows: RoleRow[] }>(ROLE_QUERY);
  return roleCheckOf(rows[0]!);
}

/**
 * `start` refuses a DATABASE_URL that could undo the database's guards: a superuser, the owner of
 * the tables, or a role that can become one. Those belong in MIGRATE_DATABASE_URL only.
 */
export function assertRestrictedRole(check: RoleCheck): void {
  const why = check.superuser
    ? 'a superuser'
    : check.ownedObjects > 0
      ? `the owner (or a member of the owner) of ${check.ownedObjects} object(s) of the schema`
      : null;
  if (why) {
    throw new ConfigError([
      `DATABASE_URL: logs in as "${check.role}", ${why}, which can disable triggers and rewrite the audit trail. ` +
        `Run the service as the restricted role ${APP_ROLE} (created by \`lifecycle-desk migrate\`; see "Database roles and grants" in the README) ` +
        "and give the owner's URL to MIGRATE_DATABASE_URL only.",
    ]);
  }
}

/** Creates the database named in the URL if it does not exist (connecting to the `postgres` maintenance database). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) throw new ConfigError(['MIGRATE_DATABASE_URL: names no database']);
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

/** Creates the database if needed and applies every pending migration, as the owner. Returns the names applied. */
export async function migrateLatest(migrateDatabaseUrl: string): Promise<string[]> {
  await ensureDatabase(migrateDatabaseUrl);
  const db = createDb(migrateDatabaseUrl, { poolMax: 2 });
  try {
    const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
    return applied;
  } finally {
    await db.destroy();
  }
}
