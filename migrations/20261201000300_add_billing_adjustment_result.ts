import type { Knex } from 'knex';

/**
 * What the provider confirmed for each billing adjustment (its own amounts, the subscription as
 * it reported it). Customer emails state money only from here, and the ledger posts only this.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('billing_adjustments', (t) => {
    t.jsonb('result');
  });
  // Inbound provider webhooks ask whether an account has a provider call in flight.
  await knex.raw(`CREATE INDEX billing_adjustments_pending ON billing_adjustments (record_id) WHERE status = 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX billing_adjustments_pending');
  await knex.schema.alterTable('billing_adjustments', (t) => {
    t.dropColumn('result');
  });
}
