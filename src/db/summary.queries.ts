import { resolveEvents } from './personal-data.repository';
import type { Knex } from 'knex';
import type { AdjustmentFacts, RecordFacts, SummarySource } from '../app/record-summary';
import type { Account } from '../records/accounts';
import type { LifecycleRecord } from '../records/kinds';
import type { BillingEffect } from '../records/billing';
import type { BillingResult } from '../records/ports';
import { KnexAccountRepository } from './accounts.repository';
import { KnexApprovalRepository } from './approvals.repository';
import { KnexBillingPreviewRepository } from './billing-previews.repository';
import { auditFromRow, recordFromRow } from './mappers';
import type { AuditRow, RecordRow } from './mappers';
import { isUuid } from './records.repository';

/** The read side of record summaries (the Zendesk sidebar): a few indexed reads per record. */
export class KnexSummarySource implements SummarySource {
  constructor(private readonly db: Knex) {}

  async ticketRecords(ticketId: string, limit: number): Promise<RecordFacts[]> {
    const rows = await this.db<RecordRow>('lifecycle_records')
      .where({ ticket_id: ticketId })
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(limit);
    return Promise.all(rows.map((r) => this.facts(recordFromRow(r))));
  }

  async record(recordId: string): Promise<RecordFacts | null> {
    if (!isUuid(recordId)) return null;
    const row = await this.db<RecordRow>('lifecycle_records').where({ id: recordId }).first();
    return row ? this.facts(recordFromRow(row)) : null;
  }

  async account(accountId: string, recent: number): Promise<{ account: Account; recent: LifecycleRecord[] } | null> {
    const [account, rows] = await Promise.all([
      new KnexAccountRepository(this.db).get(accountId),
      this.db<RecordRow>('lifecycle_records')
        .where({ account_id: accountId })
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(recent),
    ]);
    return account ? { account, recent: rows.map(recordFromRow) } : null;
  }

  private async facts(record: LifecycleRecord): Promise<RecordFacts> {
    const approvals = new KnexApprovalRepository(this.db);
    const [events, approval, decisions, preview, adjustments, emails] = await Promise.all([
      // In insertion order: a merge writes to two accounts' chains, whose seqs do not compare.
      this.db<AuditRow>('audit_events').where({ record_id: record.id }).orderBy('id', 'asc'),
      approvals.get(record.id),
      approvals.decisions(record.id),
      new KnexBillingPreviewRepository(this.db).get(record.id),
      this.db('billing_adjustments')
        .where({ record_id: record.id })
        .orderBy([{ column: 'created_at' }, { column: 'idempotency_key' }])
        .select('step', 'provider', 'status', 'attempts', 'last_error', 'request', 'result'),
      this.db('email_deliveries').where({ record_id: record.id }).orderBy('created_at').select('outcome', 'status', 'subject', 'sent_at'),
    ]);
    return {
      record,
      events: await resolveEvents(this.db, events.map(auditFromRow)),
      approval,
      decisions,
      preview,
      adjustments: adjustments.map(
        (a: {
          step: string;
          provider: string;
          status: AdjustmentFacts['status'];
          attempts: number;
          last_error: string | null;
          request: { effect?: BillingEffect } | null;
          result: BillingResult | null;
        }): AdjustmentFacts => ({
          step: a.step,
          provider: a.provider,
          status: a.status,
          attempts: a.attempts,
          last_error: a.last_error,
          effect: a.request?.effect ?? null,
          result: a.result,
        }),
      ),
      emails: emails.map((e: { outcome: string; status: string; subject: string | null; sent_at: Date | null }) => ({
        outcome: e.outcome,
        status: e.status,
        subject: e.subject,
        sent_at: e.sent_at ? e.sent_at.toISOString() : null,
      })),
    };
  }
}
