import type { Knex } from 'knex';
import type { LifecycleRecord } from '../records/kinds';
import type { ApprovalDecision, ApprovalRequest } from '../records/ports';
import { KnexApprovalRepository } from './approvals.repository';
import { KnexRecordRepository } from './records.repository';
import { KnexAccountRepository } from './accounts.repository';

export interface ApprovalSnapshot {
  readonly record: LifecycleRecord;
  readonly request: ApprovalRequest | null;
  readonly decisions: readonly ApprovalDecision[];
  readonly accountName: string | null;
}

/** Everything a Slack approval message shows, read in one go. */
export async function loadApprovalSnapshot(db: Knex, recordId: string): Promise<ApprovalSnapshot | null> {
  const record = await new KnexRecordRepository(db).get(recordId);
  if (!record) return null;
  const approvals = new KnexApprovalRepository(db);
  const [request, decisions, account] = await Promise.all([
    approvals.get(recordId),
    approvals.decisions(recordId),
    new KnexAccountRepository(db).get(record.account_id),
  ]);
  return { record, request, decisions, accountName: account?.name ?? null };
}
