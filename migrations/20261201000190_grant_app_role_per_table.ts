import type { Knex } from 'knex';

/**
 * Least privilege for the service's role, table by table, instead of the default privileges that
 * gave it SELECT, INSERT, UPDATE and DELETE on every new table. Nothing at run time deletes a row,
 * so no table grants DELETE (the idempotency tables billing_adjustments, email_deliveries,
 * webhook_deliveries and approval_decisions above all); append-only tables grant no UPDATE;
 * ledger_balances is read-only (its trigger keeps it). The README lists these grants
 * ("Database roles and grants") and a test compares every table of the schema with that list, so
 * a new table needs a deliberate grant (a migration like this one) and a README row.
 */
const GRANTS: Readonly<Record<string, readonly string[]>> = {
  accounts: ['SELECT', 'INSERT', 'UPDATE'],
  lifecycle_records: ['SELECT', 'INSERT', 'UPDATE'],
  lifecycle_transitions: ['SELECT'],
  audit_events: ['SELECT', 'INSERT'],
  audit_heads: ['SELECT', 'INSERT', 'UPDATE'],
  outbox: ['SELECT', 'INSERT', 'UPDATE'],
  webhook_deliveries: ['SELECT', 'INSERT', 'UPDATE'],
  zendesk_sync_state: ['SELECT', 'INSERT', 'UPDATE'],
  ledger_transactions: ['SELECT', 'INSERT'],
  ledger_entries: ['SELECT', 'INSERT'],
  ledger_balances: ['SELECT'],
  billing_adjustments: ['SELECT', 'INSERT', 'UPDATE'],
  email_deliveries: ['SELECT', 'INSERT', 'UPDATE'],
  approval_requests: ['SELECT', 'INSERT', 'UPDATE'],
  approval_decisions: ['SELECT', 'INSERT'],
};

/** Sequences behind the bigIncrements ids of tables the service inserts into. */
const SEQUENCES = ['audit_events_id_seq', 'outbox_id_seq', 'ledger_entries_id_seq', 'approval_decisions_id_seq'];

export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM lifecycle_desk_app');
  await knex.raw('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM lifecycle_desk_app');
  await knex.raw('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM lifecycle_desk_app');
  await knex.raw('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM lifecycle_desk_app');
  for (const [table, privileges] of Object.entries(GRANTS)) await knex.raw(`GRANT ${privileges.join(', ')} ON ${table} TO lifecycle_desk_app`);
  for (const seq of SEQUENCES) await knex.raw(`GRANT USAGE ON SEQUENCE ${seq} TO lifecycle_desk_app`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM lifecycle_desk_app');
  await knex.raw('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM lifecycle_desk_app');
  await knex.raw('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lifecycle_desk_app');
  await knex.raw('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO lifecycle_desk_app');
  await knex.raw('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO lifecycle_desk_app');
  await knex.raw('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO lifecycle_desk_app');
}
