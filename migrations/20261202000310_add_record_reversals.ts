import type { Knex } from 'knex';

/**
 * A reversal is a record of its own that undoes another one (voids a credit, moves a plan back,
 * withdraws a scheduled termination). `reverses_record_id` links it to the record it reverses; the
 * foreign key keeps the link true, and the partial unique index allows one live reversal per
 * record (a rejected or cancelled one may be followed by another).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('lifecycle_records', (t) => {
    t.uuid('reverses_record_id').references('id').inTable('lifecycle_records');
  });
  await knex.raw(
    `CREATE UNIQUE INDEX lifecycle_records_one_live_reversal ON lifecycle_records (reverses_record_id)
       WHERE reverses_record_id IS NOT NULL AND state NOT IN ('rejected', 'cancelled')`,
  );
  await knex.raw(`ALTER TABLE lifecycle_records ADD CONSTRAINT lifecycle_records_reversal_not_self CHECK (reverses_record_id IS DISTINCT FROM id)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX lifecycle_records_one_live_reversal');
  await knex.raw('ALTER TABLE lifecycle_records DROP CONSTRAINT lifecycle_records_reversal_not_self');
  await knex.schema.alterTable('lifecycle_records', (t) => {
    t.dropColumn('reverses_record_id');
  });
}
