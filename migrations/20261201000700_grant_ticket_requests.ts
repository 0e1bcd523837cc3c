import type { Knex } from 'knex';

/**
 * `ticket_requests` (the request fingerprint each ticket last showed) was created while the
 * service's role still had default privileges; since those are gone (…_grant_app_role_per_table),
 * it gets its deliberate grant here: intake reads, adds and replaces fingerprints, never deletes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('REVOKE ALL ON ticket_requests FROM lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT, UPDATE ON ticket_requests TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('REVOKE ALL ON ticket_requests FROM lifecycle_desk_app');
}
