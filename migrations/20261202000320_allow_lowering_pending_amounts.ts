import type { Knex } from 'knex';

/**
 * Partial approval: an approver may lower a pending credit or fee (with a reason) as they approve.
 * The lowering is its own transition, `pending_approval -> pending_approval` (`lower_amount` in
 * src/records/state-machine.ts), so the requested amount and the decided one are both in the
 * audit trail and a second approver sees the lowered amount.
 */
export async function up(knex: Knex): Promise<void> {
  await knex('lifecycle_transitions').insert({ from_state: 'pending_approval', to_state: 'pending_approval' }).onConflict(['from_state', 'to_state']).ignore();
}

export async function down(knex: Knex): Promise<void> {
  await knex('lifecycle_transitions').where({ from_state: 'pending_approval', to_state: 'pending_approval' }).del();
}
