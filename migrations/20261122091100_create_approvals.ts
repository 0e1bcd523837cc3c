import type { Knex } from 'knex';

/**
 * Approval requests (what the policy asked for, where the Slack messages are) and each
 * approver's decision. One decision per approver and record; the record row lock serialises
 * concurrent clicks so exactly one of them decides.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('approval_requests', (t) => {
    t.uuid('record_id').primary();
    t.text('rule').notNullable();
    t.integer('approvals_required').notNullable();
    t.jsonb('approvers').notNullable();
    t.jsonb('escalation').notNullable().defaultTo('{}');
    /** Risk flags with their explanations, as computed when approval was requested. */
    t.jsonb('risk').notNullable().defaultTo('[]');
    t.double('reminder_after_hours');
    t.double('escalate_after_hours');
    t.text('channel');
    /** Slack message timestamps posted for this request (initial, reminders, escalation). */
    t.jsonb('messages').notNullable().defaultTo('[]');
    t.timestamp('requested_at', { useTz: true }).notNullable();
    t.timestamp('decided_at', { useTz: true });
    t.text('outcome');
  });
  await knex.raw('CREATE INDEX approval_requests_pending_idx ON approval_requests (requested_at) WHERE decided_at IS NULL');
  await knex.schema.createTable('approval_decisions', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('record_id').notNullable();
    t.text('approver_id').notNullable();
    t.text('decision').notNullable();
    t.text('reason');
    t.integer('record_version').notNullable();
    t.timestamp('decided_at', { useTz: true }).notNullable();
    t.unique(['record_id', 'approver_id']);
  });
  await knex.raw(`ALTER TABLE approval_decisions ADD CONSTRAINT approval_decisions_decision_check CHECK (decision IN ('approve','reject'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('approval_decisions');
  await knex.schema.dropTable('approval_requests');
}
