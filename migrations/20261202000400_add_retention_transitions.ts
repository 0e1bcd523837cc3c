import type { Knex } from 'knex';

/**
 * Retention offers (src/records/retention.ts): a submitted request held for an offer records the
 * offer and a declined answer without leaving `submitted`, and an accepted offer withdraws it
 * (`submitted → cancelled`). The pairs the record-transition trigger allows, kept equal to
 * TRANSITIONS in src/records/state-machine.ts.
 */
const PAIRS: readonly [string, string][] = [
  ['submitted', 'submitted'],
  ['submitted', 'cancelled'],
];

export async function up(knex: Knex): Promise<void> {
  await knex('lifecycle_transitions')
    .insert(PAIRS.map(([from_state, to_state]) => ({ from_state, to_state })))
    .onConflict(['from_state', 'to_state'])
    .ignore();
}

export async function down(knex: Knex): Promise<void> {
  for (const [from_state, to_state] of PAIRS) await knex('lifecycle_transitions').where({ from_state, to_state }).delete();
}
