import type { Knex } from 'knex';

/**
 * When an account's billing history starts (it was first billed). Service credits may only cover
 * time from then on; without it, the history is taken to start with the current term.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.timestamp('billing_started_at', { useTz: true });
  });
  await knex.raw('ALTER TABLE accounts ADD CONSTRAINT accounts_billing_start_check CHECK (billing_started_at IS NULL OR billing_started_at <= term_start)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE accounts DROP CONSTRAINT accounts_billing_start_check');
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('billing_started_at');
  });
}
