import type { Knex } from 'knex';

/**
 * Every billing side effect is written here, with its idempotency key, BEFORE the provider is
 * called. A retry finds the row and sends the same key again; a finished row is never re-sent.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('billing_adjustments', (t) => {
    t.text('idempotency_key').primary();
    t.uuid('record_id').notNullable();
    t.text('step').notNullable();
    t.text('provider').notNullable();
    t.text('status').notNullable();
    t.jsonb('request').notNullable();
    t.text('provider_ref');
    t.text('last_error');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['record_id']);
  });
  await knex.raw(`ALTER TABLE billing_adjustments ADD CONSTRAINT billing_adjustments_status_check
    CHECK (status IN ('pending','succeeded','failed'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('billing_adjustments');
}
