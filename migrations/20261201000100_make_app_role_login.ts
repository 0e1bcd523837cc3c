import type { Knex } from 'knex';

/**
 * The service used to log in as the migrating user and `SET ROLE lifecycle_desk_app`, which a
 * `RESET ROLE` undid. Now it logs in as lifecycle_desk_app itself (DATABASE_URL) and never holds
 * the owner's credentials. No password is set here: locally trust auth lets it in; in production
 * the DBA gives it one (`ALTER ROLE lifecycle_desk_app PASSWORD '…'`, see the README). A migrating
 * user who may not alter roles gets a notice and the DBA grants LOGIN instead.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lifecycle_desk_app' AND rolcanlogin) THEN
        ALTER ROLE lifecycle_desk_app LOGIN;
      END IF;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'cannot ALTER ROLE lifecycle_desk_app LOGIN as %; ask a DBA to run it', current_user;
    END $$;
  `);
}

export async function down(): Promise<void> {
  // Roles are cluster-wide and other databases may use this one as their login; leave it.
}
