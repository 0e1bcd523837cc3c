import type { Knex } from 'knex';

/**
 * Indexes the reports read by (each reads one month or so of one population): records by creation
 * time; the audit events reports look at (confirmations, applications, policy decisions) by time,
 * and a record's schedule and start-apply instants; confirmed billing adjustments by the time the
 * provider confirmed them; approval requests by when they were raised.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX lifecycle_records_created_idx ON lifecycle_records (created_at)');
  // One small index per event the reports read by time. Time leads: the planner reads a month of
  // them in heap order (events are appended in time order), and a partial index per type means
  // appends of every other type do not pay for them.
  await knex.raw(`CREATE INDEX audit_events_confirm_idx ON audit_events (occurred_at) INCLUDE (record_id) WHERE type = 'record.confirm'`);
  await knex.raw(`CREATE INDEX audit_events_applied_idx ON audit_events (occurred_at) INCLUDE (record_id) WHERE type = 'record.mark_applied'`);
  await knex.raw(`CREATE INDEX audit_events_policy_idx ON audit_events (occurred_at) INCLUDE (record_id) WHERE type IN ('record.auto_approve', 'record.request_approval')`);
  // Turnaround leaves out a record's scheduled wait: its schedule and start-apply instants, read by record.
  await knex.raw(`CREATE INDEX audit_events_pause_idx ON audit_events (record_id, type, occurred_at)
    WHERE type IN ('record.schedule', 'record.start_apply')`);
  await knex.raw(`CREATE INDEX billing_adjustments_confirmed_idx ON billing_adjustments (updated_at) WHERE status = 'succeeded'`);
  await knex.raw('CREATE INDEX approval_requests_requested_idx ON approval_requests (requested_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX approval_requests_requested_idx');
  await knex.raw('DROP INDEX billing_adjustments_confirmed_idx');
  await knex.raw('DROP INDEX audit_events_pause_idx');
  await knex.raw('DROP INDEX audit_events_policy_idx');
  await knex.raw('DROP INDEX audit_events_applied_idx');
  await knex.raw('DROP INDEX audit_events_confirm_idx');
  await knex.raw('DROP INDEX lifecycle_records_created_idx');
}
