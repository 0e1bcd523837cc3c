import type { Knex } from 'knex';

/**
 * Transactional outbox: rows are written in the same transaction as the change that causes them
 * and moved to the job queues after commit, so nothing is lost between commit and enqueue.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('outbox', (t) => {
    t.bigIncrements('id').primary();
    t.text('topic').notNullable();
    t.text('key').notNullable().unique();
    t.jsonb('payload').notNullable();
    t.timestamp('available_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('published_at', { useTz: true });
    t.integer('attempts').notNullable().defaultTo(0);
    t.text('last_error');
  });
  await knex.raw('CREATE INDEX outbox_unpublished_idx ON outbox (available_at, id) WHERE published_at IS NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('outbox');
}
