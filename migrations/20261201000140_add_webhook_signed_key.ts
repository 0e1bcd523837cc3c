import type { Knex } from 'knex';

/**
 * A second key per delivery: a hash of what the signature covers (for Zendesk, the timestamp and
 * the body). The sender's delivery id is an unsigned header, so a captured delivery resent with a
 * new id within the signature's five minutes would otherwise pass as new; with this key unique,
 * it stops at the claim like any other replay.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.text('signed_key');
    t.unique(['source', 'signed_key'], { indexName: 'webhook_deliveries_signed_key_unique' });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('webhook_deliveries', (t) => {
    t.dropUnique(['source', 'signed_key'], 'webhook_deliveries_signed_key_unique');
    t.dropColumn('signed_key');
  });
}
