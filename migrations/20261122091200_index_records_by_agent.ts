import type { Knex } from 'knex';

/** Risk flag "one agent issuing unusually many credits" counts an agent's recent credits on every submit. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX lifecycle_records_agent_credits_idx ON lifecycle_records (requested_by, created_at) WHERE kind = 'service_credit'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX lifecycle_records_agent_credits_idx');
}
