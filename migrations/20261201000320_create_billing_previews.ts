import type { Knex } from 'knex';

/**
 * The billing provider's own figure for a record, taken before approval (Stripe's
 * `invoices.createPreview` at the proration instant apply will use), beside Lifecycle Desk's.
 * One row per record; the approval request in Slack shows both.
 *
 * Grants are explicit: the service reads, creates and updates previews, never deletes them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('billing_previews', (t) => {
    t.uuid('record_id').primary().references('id').inTable('lifecycle_records');
    t.text('provider').notNullable();
    t.bigInteger('amount_minor');
    t.bigInteger('computed_minor');
    t.bigInteger('difference_minor');
    t.bigInteger('outstanding_minor');
    t.specificType('currency', 'char(3)');
    t.timestamp('proration_date', { useTz: true });
    t.text('unavailable');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('REVOKE ALL ON billing_previews FROM lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT, UPDATE ON billing_previews TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('billing_previews');
}
