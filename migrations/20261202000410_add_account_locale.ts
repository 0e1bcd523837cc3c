import type { Knex } from 'knex';

/** The language an account's customer emails are written in (a BCP 47 tag; null: the default templates). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('accounts', (t) => {
    t.text('locale');
  });
  await knex.raw(`ALTER TABLE accounts ADD CONSTRAINT accounts_locale_check CHECK (locale IS NULL OR locale ~ '^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE accounts DROP CONSTRAINT accounts_locale_check');
  await knex.schema.alterTable('accounts', (t) => {
    t.dropColumn('locale');
  });
}
