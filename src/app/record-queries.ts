import type { Account } from '../records/accounts';
import type { AuditEvent } from '../records/audit';
import { AppError } from '../records/errors';
import type { LifecycleRecord, State } from '../records/kinds';
import type { ApprovalDecision, ApprovalRequest, StoredPreview } from '../records/ports';

/**
 * The reads the HTTP API and the Slack app need, as app-level queries over a port the app owns
 * ({@link RecordQuerySource}, implemented in `src/db/record.queries.ts`). Routes and listeners
 * call these, never `src/db` directly, so what "not found" means and what a list holds is decided
 * here once, whichever surface asks.
 */

export interface RecordFilter {
  readonly ticketId?: string;
  readonly accountId?: string;
  readonly state?: State;
  /** At most 500; default 100. */
  readonly limit?: number;
}

/** Everything a Slack approval message shows about a record, read in one go. */
export interface ApprovalSnapshot {
  readonly record: LifecycleRecord;
  readonly request: ApprovalRequest | null;
  readonly decisions: readonly ApprovalDecision[];
  readonly accountName: string | null;
  /** The billing provider's preview taken before approval, if any. */
  readonly preview: StoredPreview | null;
}

/** Read side of records, accounts and approvals (src/db implements it). */
export interface RecordQuerySource {
  /** Newest first. */
  records(filter: RecordFilter): Promise<LifecycleRecord[]>;
  /** The record with its audit events in the order they were written; null for an unknown (or malformed) id. */
  recordWithEvents(id: string): Promise<{ record: LifecycleRecord; events: AuditEvent[] } | null>;
  account(id: string): Promise<Account | null>;
  /** The account's records and audit events, newest first, at most `limit` of each. */
  accountHistory(accountId: string, limit?: number): Promise<{ records: LifecycleRecord[]; events: AuditEvent[] }>;
  /** Undecided approval requests `userId` may decide (named, or through one of `groupIds`), oldest first. */
  pendingApprovals(userId: string, groupIds: readonly string[], limit: number): Promise<ApprovalRequest[]>;
  approvalSnapshot(recordId: string): Promise<ApprovalSnapshot | null>;
}

export const listRecords = (source: RecordQuerySource, filter: RecordFilter): Promise<LifecycleRecord[]> => source.records(filter);

/** A record with its audit events; `not_found` when there is none. */
export async function recordWithEvents(source: RecordQuerySource, id: string): Promise<{ record: LifecycleRecord; events: AuditEvent[] }> {
  const found = await source.recordWithEvents(id);
  if (!found) throw new AppError('not_found', `No lifecycle record ${id}`);
  return found;
}

/** An account with all its records and audit events; `not_found` when none of the three exists. */
export async function accountHistory(
  source: RecordQuerySource,
  accountId: string,
): Promise<{ account: Account | null; records: LifecycleRecord[]; events: AuditEvent[] }> {
  const [account, history] = await Promise.all([source.account(accountId), source.accountHistory(accountId)]);
  if (!account && history.records.length === 0 && history.events.length === 0) throw new AppError('not_found', `No account ${accountId}`);
  return { account, ...history };
}

/** One line of a supervisor's "waiting for you" list. */
export interface PendingApprovalItem {
  readonly record: LifecycleRecord;
  readonly accountName: string | null;
  readonly approvals: number;
  readonly approvalsRequired: number;
}

/**
 * What is still waiting for `userId`'s decision: the same snapshot the approval message is built
 * from, for each pending request, leaving out records that moved on meanwhile.
 */
export async function pendingApprovalItems(
  source: RecordQuerySource,
  userId: string,
  groupIds: readonly string[],
  limit: number,
): Promise<PendingApprovalItem[]> {
  const pending = await source.pendingApprovals(userId, groupIds, limit);
  const snapshots = await Promise.all(pending.map((p) => source.approvalSnapshot(p.record_id)));
  return pending.flatMap((p, i) => {
    const snap = snapshots[i];
    if (!snap || snap.record.state !== 'pending_approval') return [];
    return [
      {
        record: snap.record,
        accountName: snap.accountName,
        approvals: snap.decisions.filter((d) => d.decision === 'approve').length,
        approvalsRequired: p.approvals_required,
      },
    ];
  });
}

/** Records an agent looks up by one word: an account id, else a ticket id (`#42` or `42`). */
export async function lookupRecords(source: RecordQuerySource, query: string, limit = 10): Promise<{ by: 'account' | 'ticket'; records: LifecycleRecord[] }> {
  const byAccount = await source.records({ accountId: query, limit });
  if (byAccount.length) return { by: 'account', records: byAccount };
  return { by: 'ticket', records: await source.records({ ticketId: query.replace(/^#/, ''), limit }) };
}
