import type { Knex } from 'knex';

/**
 * The billing book: per account, the subscription as Lifecycle Desk has had it set at the billing
 * provider (plan, plan billed from the next period, status, end, pause). Written with every
 * confirmed billing effect and every change the provider reports from outside; `reconcile`
 * compares it with the accounts table and with the provider.
 *
 * Grants are explicit: the service reads, creates and updates books, never deletes them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('billing_books', (t) => {
    t.text('account_id').primary().references('id').inTable('accounts');
    t.text('plan_id');
    t.text('next_plan_id');
    t.text('status').notNullable();
    t.timestamp('cancel_at', { useTz: true });
    t.timestamp('pause_resumes_at', { useTz: true });
    t.timestamp('external_event_at', { useTz: true });
    t.uuid('last_record_id');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE billing_books ADD CONSTRAINT billing_books_status_check CHECK (status IN ('active','paused','canceled','none'))`);
  await knex.raw('REVOKE ALL ON billing_books FROM lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT, UPDATE ON billing_books TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('billing_books');
}
