import type { Knex } from 'knex';

/**
 * One row per record and condition the watchdog has alerted about (a draft past its target, an
 * approval past its escalation, a record failed or late, a turnaround at risk). The row is written
 * in the transaction that queues the alert, so each alert is raised once, whatever the number of
 * workers running the watchdog or how often it runs.
 *
 * Grants are explicit: the service reads and adds alerts, never changes or deletes them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('watchdog_alerts', (t) => {
    t.uuid('record_id').notNullable().references('id').inTable('lifecycle_records');
    t.text('condition').notNullable();
    t.timestamp('raised_at', { useTz: true }).notNullable();
    t.jsonb('detail').notNullable().defaultTo('{}');
    t.primary(['record_id', 'condition']);
  });
  await knex.raw(`ALTER TABLE watchdog_alerts ADD CONSTRAINT watchdog_alerts_condition_check
    CHECK (condition IN ('draft_overdue', 'approval_overdue', 'failed_stuck', 'scheduled_late', 'turnaround_at_risk'))`);
  await knex.raw('REVOKE ALL ON watchdog_alerts FROM lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT ON watchdog_alerts TO lifecycle_desk_app');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('watchdog_alerts');
}
