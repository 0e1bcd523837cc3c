import type { Knex } from 'knex';

/** One row per customer email (record × outcome): a retry finds it and never sends twice. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('email_deliveries', (t) => {
    t.text('key').primary();
    t.uuid('record_id').notNullable();
    t.text('outcome').notNullable();
    t.text('status').notNullable();
    t.text('message_id').notNullable();
    t.text('smtp_response');
    /** When a worker started sending; another waits until this lease expires (the sender may have died). */
    t.timestamp('claimed_at', { useTz: true });
    t.timestamp('sent_at', { useTz: true });
    /** Set once the email.sent audit event is written (a separate step, so marking sent stays one statement). */
    t.timestamp('audited_at', { useTz: true });
    t.text('subject');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['record_id']);
  });
  await knex.raw(`ALTER TABLE email_deliveries ADD CONSTRAINT email_deliveries_status_check CHECK (status IN ('pending','sending','sent','skipped'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('email_deliveries');
}
