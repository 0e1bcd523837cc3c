import { resolveEvents } from './personal-data.repository';
import type { Knex } from 'knex';
import type { RecordQuerySource } from '../app/record-queries';
import type { Account } from '../records/accounts';
import type { AuditEvent } from '../records/audit';
import type { LifecycleRecord } from '../records/kinds';
import type { ApprovalRequest } from '../records/ports';
import { KnexAccountRepository } from './accounts.repository';
import { loadApprovalSnapshot } from './approval.queries';
import type { ApprovalSnapshot } from './approval.queries';
import { pendingApprovalsFor } from './approvals.repository';
import { auditFromRow, recordFromRow } from './mappers';
import type { AuditRow, RecordRow } from './mappers';
import { isUuid } from './records.repository';

export interface RecordFilter {
  readonly ticketId?: string;
  readonly accountId?: string;
  readonly state?: string;
  readonly limit?: number;
}

export async function listRecords(db: Knex, f: RecordFilter): Promise<LifecycleRecord[]> {
  const q = db<RecordRow>('lifecycle_records')
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(Math.min(f.limit ?? 100, 500));
  if (f.ticketId !== undefined) q.where('ticket_id', f.ticketId);
  if (f.accountId !== undefined) q.where('account_id', f.accountId);
  if (f.state !== undefined) q.where('state', f.state);
  return (await q).map(recordFromRow);
}

export async function getRecordWithEvents(db: Knex, id: string): Promise<{ record: LifecycleRecord; events: AuditEvent[] } | null> {
  if (!isUuid(id)) return null;
  const row = await db<RecordRow>('lifecycle_records').where({ id }).first();
  if (!row) return null;
  // In insertion order: a merge writes to two accounts' chains, whose seqs do not compare.
  const events = await db<AuditRow>('audit_events').where({ record_id: id }).orderBy('id', 'asc');
  return { record: recordFromRow(row), events: await resolveEvents(db, events.map(auditFromRow)) };
}

/** All records and audit events of an account, newest first. */
export async function accountHistory(db: Knex, accountId: string, limit = 500): Promise<{ records: LifecycleRecord[]; events: AuditEvent[] }> {
  const [records, events] = await Promise.all([
    db<RecordRow>('lifecycle_records')
      .where({ account_id: accountId })
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(limit),
    db<AuditRow>('audit_events').where({ account_id: accountId }).orderBy('seq', 'desc').limit(limit),
  ]);
  return { records: records.map(recordFromRow), events: await resolveEvents(db, events.map(auditFromRow)) };
}

/** The app's read port (`src/app/record-queries.ts`) over these queries. */
export class KnexRecordQuerySource implements RecordQuerySource {
  constructor(private readonly db: Knex) {}
  records(filter: RecordFilter): Promise<LifecycleRecord[]> {
    return listRecords(this.db, filter);
  }
  recordWithEvents(id: string): Promise<{ record: LifecycleRecord; events: AuditEvent[] } | null> {
    return getRecordWithEvents(this.db, id);
  }
  account(id: string): Promise<Account | null> {
    return new KnexAccountRepository(this.db).get(id);
  }
  accountHistory(accountId: string, limit?: number): Promise<{ records: LifecycleRecord[]; events: AuditEvent[] }> {
    return accountHistory(this.db, accountId, limit);
  }
  pendingApprovals(userId: string, groupIds: readonly string[], limit: number): Promise<ApprovalRequest[]> {
    return pendingApprovalsFor(this.db, userId, groupIds, limit);
  }
  approvalSnapshot(recordId: string): Promise<ApprovalSnapshot | null> {
    return loadApprovalSnapshot(this.db, recordId);
  }
}
