import type { Knex } from 'knex';

/**
 * Indexes the reports read by (each reads one month or so of one population): records by creation
 * time; the audit events reports and the turnaround clock look at, by type and time (a partial
 * index, so appends of every other type do not pay for it); confirmed billing adjustments by the
 * time the provider confirmed them; approval requests by when they were raised.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX lifecycle_records_created_idx ON lifecycle_records (created_at)');
  await knex.raw(`CREATE INDEX audit_events_report_idx ON audit_events (type, occurred_at)
    WHERE type IN ('record.confirm', 'record.mark_applied', 'record.auto_approve', 'record.request_approval')`);
  await knex.raw(`CREATE INDEX billing_adjustments_confirmed_idx ON billing_adjustments (updated_at) WHERE status = 'succeeded'`);
  await knex.raw('CREATE INDEX approval_requests_requested_idx ON approval_requests (requested_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX approval_requests_requested_idx');
  await knex.raw('DROP INDEX billing_adjustments_confirmed_idx');
  await knex.raw('DROP INDEX audit_events_report_idx');
  await knex.raw('DROP INDEX lifecycle_records_created_idx');
}
