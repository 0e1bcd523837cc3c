import type { Knex } from 'knex';
import type { ApprovalDecision, ApprovalRepository, ApprovalRequest } from '../records/ports';

interface RequestRow {
  record_id: string;
  rule: string;
  approvals_required: number;
  approvers: ApprovalRequest['approvers'];
  escalation: ApprovalRequest['escalation'];
  risk: ApprovalRequest['risk'];
  reminder_after_hours: number | null;
  escalate_after_hours: number | null;
  channel: string | null;
  messages: ApprovalRequest['messages'];
  requested_at: Date;
  decided_at: Date | null;
  outcome: string | null;
}

export const approvalRequestFromRow = (r: RequestRow): ApprovalRequest => ({
  ...r,
  requested_at: r.requested_at.toISOString(),
  decided_at: r.decided_at ? r.decided_at.toISOString() : null,
});

export class KnexApprovalRepository implements ApprovalRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async create(req: ApprovalRequest): Promise<void> {
    await this.db('approval_requests')
      .insert({
        ...req,
        approvers: JSON.stringify(req.approvers),
        escalation: JSON.stringify(req.escalation),
        risk: JSON.stringify(req.risk),
        messages: JSON.stringify(req.messages),
      })
      .onConflict('record_id')
      .ignore();
  }

  async get(recordId: string): Promise<ApprovalRequest | null> {
    const row = await this.db<RequestRow>('approval_requests').where({ record_id: recordId }).first();
    return row ? approvalRequestFromRow(row) : null;
  }

  async decisions(recordId: string): Promise<ApprovalDecision[]> {
    const rows = await this.db('approval_decisions').where({ record_id: recordId }).orderBy('id');
    return rows.map((r: { approver_id: string; decision: 'approve' | 'reject'; reason: string | null; record_version: number; decided_at: Date }) => ({
      approver_id: r.approver_id,
      decision: r.decision,
      reason: r.reason,
      record_version: r.record_version,
      decided_at: r.decided_at.toISOString(),
    }));
  }

  async addDecision(recordId: string, d: ApprovalDecision): Promise<void> {
    await this.db('approval_decisions').insert({ record_id: recordId, ...d });
  }

  async close(recordId: string, outcome: string, at: string): Promise<void> {
    await this.db('approval_requests').where({ record_id: recordId }).whereNull('decided_at').update({ decided_at: at, outcome });
  }

  async addMessage(recordId: string, channel: string, ts: string, kind: string): Promise<void> {
    await this.db('approval_requests')
      .where({ record_id: recordId })
      .update({ channel, messages: this.db.raw('messages || ?::jsonb', [JSON.stringify([{ ts, kind }])]) });
  }
}

/** Pending approval requests a Slack user may decide (directly listed, or through one of their groups). */
export async function pendingApprovalsFor(db: Knex, userId: string, groupIds: readonly string[], limit = 50): Promise<ApprovalRequest[]> {
  const rows = await db<RequestRow>('approval_requests')
    .whereNull('decided_at')
    .andWhere((q) => {
      q.whereRaw("approvers->'user_ids' \\? ?", [userId]);
      if (groupIds.length) q.orWhereRaw("approvers->'user_groups' \\?| ?::text[]", [groupIds as string[]]);
    })
    .orderBy('requested_at')
    .limit(limit);
  return rows.map(approvalRequestFromRow);
}
