import type { Knex } from 'knex';

/**
 * One row per inbound delivery, keyed by the sender's delivery id (or a hash of the body): the
 * same delivery twice — a retry, or a replay days later — finds its row and changes nothing.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.text('source').notNullable();
    t.text('delivery_key').notNullable();
    t.text('ticket_id');
    /** The ticket's own updated_at, so an older delivery arriving late cannot undo a newer one. */
    t.timestamp('ticket_updated_at', { useTz: true });
    t.text('outcome').notNullable();
    t.uuid('record_id');
    t.timestamp('received_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['source', 'delivery_key']);
    t.index(['source', 'ticket_id', 'ticket_updated_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webhook_deliveries');
}
