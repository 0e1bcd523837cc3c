import type { Knex } from 'knex';
import type { ApprovalSnapshot } from '../app/record-queries';
import { KnexApprovalRepository } from './approvals.repository';
import { KnexRecordRepository } from './records.repository';
import { KnexAccountRepository } from './accounts.repository';
import { KnexBillingPreviewRepository } from './billing-previews.repository';

/** Defined by the app, which owns the port; re-exported for the Slack notifier. */
export type { ApprovalSnapshot };

/** Everything a Slack approval message shows, read in one go. */
export async function loadApprovalSnapshot(db: Knex, recordId: string): Promise<ApprovalSnapshot | null> {
  const record = await new KnexRecordRepository(db).get(recordId);
  if (!record) return null;
  const approvals = new KnexApprovalRepository(db);
  const [request, decisions, account, preview] = await Promise.all([
    approvals.get(recordId),
    approvals.decisions(recordId),
    new KnexAccountRepository(db).get(record.account_id),
    new KnexBillingPreviewRepository(db).get(recordId),
  ]);
  return { record, request, decisions, accountName: account?.name ?? null, preview };
}
