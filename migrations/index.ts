import type { Knex } from 'knex';
import * as createAppRole from './20261122090000_create_app_role';
import * as createAccounts from './20261122090100_create_accounts';
import * as createLifecycleRecords from './20261122090200_create_lifecycle_records';
import * as createAuditEvents from './20261122090300_create_audit_events';
import * as createOutbox from './20261122090400_create_outbox';
import * as addOutboxCompletion from './20261122090500_add_outbox_completion';
import * as createWebhookDeliveries from './20261122090600_create_webhook_deliveries';
import * as createZendeskSyncState from './20261122090700_create_zendesk_sync_state';
import * as createLedger from './20261122090800_create_ledger';
import * as createBillingAdjustments from './20261122090900_create_billing_adjustments';
import * as createEmailDeliveries from './20261122091000_create_email_deliveries';
import * as createApprovals from './20261122091100_create_approvals';
import * as indexRecordsByAgent from './20261122091200_index_records_by_agent';
import * as makeAppRoleLogin from './20261201000100_make_app_role_login';
import * as guardRecordTransitions from './20261201000110_guard_record_transitions';
import * as maintainLedgerBalancesByTrigger from './20261201000120_maintain_ledger_balances_by_trigger';
import * as guardAuditHeads from './20261201000130_guard_audit_heads';
import * as addWebhookSignedKey from './20261201000140_add_webhook_signed_key';
import * as grantAppRolePerTable from './20261201000190_grant_app_role_per_table';
import * as createTicketRequests from './20261201000200_create_ticket_requests';
import * as addAccountBillingStart from './20261201000201_add_account_billing_start';
import * as addBillingAdjustmentResult from './20261201000300_add_billing_adjustment_result';
import * as createBillingBooks from './20261201000310_create_billing_books';
import * as createBillingPreviews from './20261201000320_create_billing_previews';
import * as indexReports from './20261201000400_index_reports';
import * as createWatchdogAlerts from './20261201000410_create_watchdog_alerts';
import * as createAuditAppendFunction from './20261201000610_create_audit_append_function';
import * as indexOpenOutboxByRecord from './20261202000100_index_open_outbox_by_record';
import * as grantTicketRequests from './20261201000700_grant_ticket_requests';
import * as allowDisputeOfConfirmedRecords from './20261202000300_allow_dispute_of_confirmed_records';
import * as addRecordReversals from './20261202000310_add_record_reversals';
import * as allowLoweringPendingAmounts from './20261202000320_allow_lowering_pending_amounts';
import * as createApiTokens from './20261202000600_create_api_tokens';
import * as createPersonalData from './20261202000610_create_personal_data';
import * as addPersonalDataRecord from './20261202000620_add_personal_data_record';
import * as allowLegacyAuditRedaction from './20261202000630_allow_legacy_audit_redaction';

/**
 * Migrations are listed here rather than discovered on disk so that the compiled service, the
 * TypeScript tests and the CLI all run exactly the same set, with no loader configuration.
 */
const MIGRATIONS: Record<string, Knex.Migration> = {
  '20261122090000_create_app_role': createAppRole,
  '20261122090100_create_accounts': createAccounts,
  '20261122090200_create_lifecycle_records': createLifecycleRecords,
  '20261122090300_create_audit_events': createAuditEvents,
  '20261122090400_create_outbox': createOutbox,
  '20261122090500_add_outbox_completion': addOutboxCompletion,
  '20261122090600_create_webhook_deliveries': createWebhookDeliveries,
  '20261122090700_create_zendesk_sync_state': createZendeskSyncState,
  '20261122090800_create_ledger': createLedger,
  '20261122090900_create_billing_adjustments': createBillingAdjustments,
  '20261122091000_create_email_deliveries': createEmailDeliveries,
  '20261122091100_create_approvals': createApprovals,
  '20261122091200_index_records_by_agent': indexRecordsByAgent,
  '20261201000100_make_app_role_login': makeAppRoleLogin,
  '20261201000110_guard_record_transitions': guardRecordTransitions,
  '20261201000120_maintain_ledger_balances_by_trigger': maintainLedgerBalancesByTrigger,
  '20261201000130_guard_audit_heads': guardAuditHeads,
  '20261201000140_add_webhook_signed_key': addWebhookSignedKey,
  '20261201000190_grant_app_role_per_table': grantAppRolePerTable,
  '20261201000200_create_ticket_requests': createTicketRequests,
  '20261201000201_add_account_billing_start': addAccountBillingStart,
  '20261201000300_add_billing_adjustment_result': addBillingAdjustmentResult,
  '20261201000310_create_billing_books': createBillingBooks,
  '20261201000320_create_billing_previews': createBillingPreviews,
  '20261201000400_index_reports': indexReports,
  '20261201000410_create_watchdog_alerts': createWatchdogAlerts,
  '20261201000610_create_audit_append_function': createAuditAppendFunction,
  '20261201000700_grant_ticket_requests': grantTicketRequests,
  '20261202000100_index_open_outbox_by_record': indexOpenOutboxByRecord,
  '20261202000300_allow_dispute_of_confirmed_records': allowDisputeOfConfirmedRecords,
  '20261202000310_add_record_reversals': addRecordReversals,
  '20261202000320_allow_lowering_pending_amounts': allowLoweringPendingAmounts,
  '20261202000600_create_api_tokens': createApiTokens,
  '20261202000610_create_personal_data': createPersonalData,
  '20261202000620_add_personal_data_record': addPersonalDataRecord,
  '20261202000630_allow_legacy_audit_redaction': allowLegacyAuditRedaction,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const m = MIGRATIONS[name];
    if (!m) throw new Error(`unknown migration ${name}`);
    return m;
  },
};
