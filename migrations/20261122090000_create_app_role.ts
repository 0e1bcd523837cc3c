import type { Knex } from 'knex';

/**
 * The role the service runs as (it `SET ROLE`s to it on every connection). Tables get their
 * privileges from the default privileges below; audit_events then has UPDATE/DELETE/TRUNCATE
 * taken away in its own migration. Roles are cluster-wide, so creation tolerates a concurrent
 * creator (parallel test databases) and `down` leaves the role for other databases.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    DO $$
    BEGIN
      CREATE ROLE lifecycle_desk_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$;
  `);
  await knex.raw(`
    DO $$
    BEGIN
      EXECUTE format('GRANT lifecycle_desk_app TO %I', current_user);
    EXCEPTION WHEN duplicate_object OR invalid_grant_operation OR unique_violation THEN NULL;
    END $$;
  `);
  await knex.raw('GRANT USAGE ON SCHEMA public TO lifecycle_desk_app');
  await knex.raw('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lifecycle_desk_app');
  await knex.raw('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM lifecycle_desk_app');
  await knex.raw('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM lifecycle_desk_app');
  await knex.raw('REVOKE USAGE ON SCHEMA public FROM lifecycle_desk_app');
}
