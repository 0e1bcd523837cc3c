import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('accounts', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('plan_id').notNullable();
    t.text('status').notNullable();
    t.specificType('currency', 'char(3)').notNullable();
    t.bigInteger('mrr_minor').notNullable().defaultTo(0);
    t.text('billing_customer_id');
    t.text('support_tier');
    t.jsonb('contacts').notNullable().defaultTo('[]');
    t.timestamp('term_start', { useTz: true }).notNullable();
    t.timestamp('term_end', { useTz: true }).notNullable();
    t.integer('notice_period_days').notNullable().defaultTo(30);
    t.bigInteger('early_termination_fee_minor').notNullable().defaultTo(0);
    t.text('merged_into').references('id').inTable('accounts');
    t.integer('version').notNullable().defaultTo(1);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE accounts ADD CONSTRAINT accounts_status_check
    CHECK (status IN ('pending','active','suspended','deactivated','closed','merged'))`);
  await knex.raw('ALTER TABLE accounts ADD CONSTRAINT accounts_term_check CHECK (term_end > term_start)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('accounts');
}
