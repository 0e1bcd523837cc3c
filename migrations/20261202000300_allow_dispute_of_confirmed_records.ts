import type { Knex } from 'knex';

/**
 * A customer usually disputes a change after its confirmation email, when the record is already
 * `confirmed`: the lifecycle allows `confirmed -> disputed` as well as `applied -> disputed`
 * (src/records/state-machine.ts; db-privileges.test.ts compares the two lists).
 */
export async function up(knex: Knex): Promise<void> {
  await knex('lifecycle_transitions').insert({ from_state: 'confirmed', to_state: 'disputed' }).onConflict(['from_state', 'to_state']).ignore();
}

export async function down(knex: Knex): Promise<void> {
  await knex('lifecycle_transitions').where({ from_state: 'confirmed', to_state: 'disputed' }).del();
}
