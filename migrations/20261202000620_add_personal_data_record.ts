import type { Knex } from 'knex';

/**
 * Which record a personal value belongs to (null: the account's own, such as its contacts), so the
 * retention purge can erase one finished record's personal data after its kind's retention period
 * while the account lives on.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('personal_data', (t) => {
    t.uuid('record_id').nullable().index();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('personal_data', (t) => {
    t.dropColumn('record_id');
  });
}
