import type { Knex } from 'knex';

/**
 * Incidents and their credits (README "Incidents"):
 * - `incidents`: one outage, by its reference; the window, the affected service and plans, and
 *   every account filter it was posted with (re-posting widens it).
 * - `incident_batches`: one approval request per posting that found new accounts; what the
 *   approver saw (accounts, totals per currency, largest credits, flagged accounts) and the outcome.
 * - `incident_batch_decisions`: one decision per approver and batch (append-only, four-eyes).
 * - `incident_credits`: which record credits which account for an incident. The primary key
 *   (incident, account) is what makes re-posting or widening create records only for accounts
 *   not yet credited, even when two postings race.
 *
 * Grants are explicit: decisions and credit links are only ever added; incidents (their filters)
 * and batches (their outcome and Slack message) are updated; nothing is deleted.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('incidents', (t) => {
    t.uuid('id').primary();
    t.text('reference').notNullable().unique();
    t.timestamp('starts_at', { useTz: true }).notNullable();
    t.timestamp('ends_at', { useTz: true }).notNullable();
    t.text('service').notNullable();
    t.jsonb('plans').notNullable().defaultTo('[]');
    t.decimal('measured_uptime_percent', 7, 4);
    t.jsonb('filters').notNullable().defaultTo('[]');
    t.text('reason_code').notNullable();
    t.text('created_by').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
  });
  await knex.raw('ALTER TABLE incidents ADD CONSTRAINT incidents_window_check CHECK (ends_at > starts_at)');

  await knex.schema.createTable('incident_batches', (t) => {
    t.uuid('id').primary();
    t.uuid('incident_id').notNullable().references('id').inTable('incidents');
    t.integer('seq').notNullable();
    t.text('status').notNullable();
    t.integer('approvals_required').notNullable();
    t.jsonb('approvers').notNullable();
    t.jsonb('summary').notNullable();
    t.text('requested_by').notNullable();
    t.text('channel');
    t.text('message_ts');
    t.text('reason');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('decided_at', { useTz: true });
    t.unique(['incident_id', 'seq']);
  });
  await knex.raw(`ALTER TABLE incident_batches ADD CONSTRAINT incident_batches_status_check
    CHECK (status IN ('pending', 'approved', 'approved_unflagged', 'rejected'))`);

  await knex.schema.createTable('incident_batch_decisions', (t) => {
    t.uuid('batch_id').notNullable().references('id').inTable('incident_batches');
    t.text('approver_id').notNullable();
    t.text('decision').notNullable();
    t.text('reason');
    t.timestamp('decided_at', { useTz: true }).notNullable();
    t.primary(['batch_id', 'approver_id']);
  });
  await knex.raw(`ALTER TABLE incident_batch_decisions ADD CONSTRAINT incident_batch_decisions_check
    CHECK (decision IN ('approve_all', 'approve_unflagged', 'reject'))`);

  await knex.schema.createTable('incident_credits', (t) => {
    t.uuid('incident_id').notNullable().references('id').inTable('incidents');
    t.text('account_id').notNullable().references('id').inTable('accounts');
    t.uuid('record_id').notNullable().unique().references('id').inTable('lifecycle_records');
    t.uuid('batch_id').notNullable().references('id').inTable('incident_batches');
    t.boolean('flagged').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.primary(['incident_id', 'account_id']);
    t.index(['batch_id']);
  });

  for (const table of ['incidents', 'incident_batches', 'incident_batch_decisions', 'incident_credits']) {
    await knex.raw(`REVOKE ALL ON ${table} FROM lifecycle_desk_app`);
  }
  await knex.raw('GRANT SELECT, INSERT, UPDATE ON incidents, incident_batches TO lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT ON incident_batch_decisions, incident_credits TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('incident_credits');
  await knex.schema.dropTable('incident_batch_decisions');
  await knex.schema.dropTable('incident_batches');
  await knex.schema.dropTable('incidents');
}
