import type { Knex } from 'knex';

/**
 * A ticket sync runs once per record however many versions queued one (the job id is the
 * record's), so its last transaction completes every open sync row of the record up to the
 * version it synced. This index finds those rows without scanning the open outbox.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw("CREATE INDEX outbox_open_by_record_idx ON outbox ((payload->>'record_id'), topic) WHERE completed_at IS NULL");
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX outbox_open_by_record_idx');
}
