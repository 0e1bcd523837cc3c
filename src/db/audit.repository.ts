import type { Knex } from 'knex';
import { chainEvents } from '../records/audit';
import type { AuditEvent, AuditEventDraft } from '../records/audit';
import type { AuditAppender } from '../records/ports';
import { auditFromRow } from './mappers';
import type { AuditRow } from './mappers';

/**
 * Appends hash-chained events. Per account, one upsert on `audit_heads` both takes the row lock
 * (serialising appenders of that account until commit) and returns the current head; the events
 * and the new head are then written in one statement. Accounts are locked in sorted order so two
 * transactions touching the same accounts cannot deadlock.
 */
export class KnexAuditAppender implements AuditAppender {
  constructor(private readonly trx: Knex.Transaction) {}

  async append(drafts: readonly AuditEventDraft[]): Promise<AuditEvent[]> {
    const byAccount = new Map<string, AuditEventDraft[]>();
    for (const d of drafts) {
      const list = byAccount.get(d.account_id);
      if (list) list.push(d);
      else byAccount.set(d.account_id, [d]);
    }
    const out: AuditEvent[] = [];
    for (const accountId of [...byAccount.keys()].sort()) {
      out.push(...(await this.appendForAccount(accountId, byAccount.get(accountId)!)));
    }
    return out;
  }

  async latestForRecord(recordId: string, type: string): Promise<AuditEvent | null> {
    const row = await this.trx<AuditRow>('audit_events').where({ record_id: recordId, type }).orderBy('id', 'desc').first();
    return row ? auditFromRow(row) : null;
  }

  private async appendForAccount(accountId: string, drafts: AuditEventDraft[]): Promise<AuditEvent[]> {
    const head = await this.trx.raw<{ rows: { seq: number; hash: string | null }[] }>(
      `INSERT INTO audit_heads (account_id, seq, hash) VALUES (?, 0, NULL)
       ON CONFLICT (account_id) DO UPDATE SET account_id = EXCLUDED.account_id
       RETURNING seq, hash`,
      [accountId],
    );
    const current = head.rows[0]!;
    const chained = chainEvents(current, drafts);
    const last = chained[chained.length - 1]!;
    const values = chained.map(() => '(?, ?, ?, ?, ?::jsonb, ?, ?::jsonb, ?, ?)').join(', ');
    const bindings = chained.flatMap((e) => [
      e.account_id,
      e.seq,
      e.record_id,
      e.type,
      JSON.stringify(e.actor),
      e.occurred_at,
      JSON.stringify(e.data),
      e.prev_hash,
      e.hash,
    ]);
    const inserted = await this.trx.raw<{ rows: { id: string; seq: number }[] }>(
      `WITH ins AS (
         INSERT INTO audit_events (account_id, seq, record_id, type, actor, occurred_at, data, prev_hash, hash)
         VALUES ${values} RETURNING id, seq
       ), head AS (
         UPDATE audit_heads SET seq = ?, hash = ?, updated_at = now() WHERE account_id = ?
       )
       SELECT id, seq FROM ins ORDER BY seq`,
      [...bindings, last.seq, last.hash, accountId],
    );
    return chained.map((e, i) => ({ ...e, id: String(inserted.rows[i]!.id) }));
  }
}
