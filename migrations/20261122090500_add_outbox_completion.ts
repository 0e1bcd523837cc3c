import type { Knex } from 'knex';

/**
 * Tracks each outbox row to completion so the relay can re-publish jobs Redis lost (a restart
 * or flush) and wakes relays on insert with NOTIFY instead of making them poll fast.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('outbox', (t) => {
    t.timestamp('completed_at', { useTz: true });
  });
  await knex.raw('CREATE INDEX outbox_in_flight_idx ON outbox (published_at, id) WHERE published_at IS NOT NULL AND completed_at IS NULL');
  await knex.raw(`
    CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('outbox', '');
      RETURN NULL;
    END $$;
  `);
  await knex.raw('CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER outbox_notify ON outbox');
  await knex.raw('DROP FUNCTION outbox_notify()');
  await knex.raw('DROP INDEX outbox_in_flight_idx');
  await knex.schema.alterTable('outbox', (t) => {
    t.dropColumn('completed_at');
  });
}
