import type { Knex } from 'knex';

/** What the ticket last showed for each record, so sync jobs skip stale versions and never repeat a note. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('zendesk_sync_state', (t) => {
    t.uuid('record_id').primary();
    t.text('ticket_id').notNullable();
    t.integer('synced_version').notNullable();
    t.text('note_hash');
    t.jsonb('tags').notNullable().defaultTo('[]');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('zendesk_sync_state');
}
