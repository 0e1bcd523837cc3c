import type { Knex } from 'knex';

/**
 * Free-form tags on an account (`region:eu`, `dc:fra1`…), so an incident can name the customers it
 * hit by the region or data centre they are served from. A JSON array of short strings.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.jsonb('tags').notNullable().defaultTo('[]');
  });
  await knex.raw(`ALTER TABLE accounts ADD CONSTRAINT accounts_tags_array CHECK (jsonb_typeof(tags) = 'array')`);
  await knex.raw('CREATE INDEX accounts_tags_idx ON accounts USING gin (tags)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS accounts_tags_idx');
  await knex.raw('ALTER TABLE accounts DROP CONSTRAINT accounts_tags_array');
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('tags');
  });
}
