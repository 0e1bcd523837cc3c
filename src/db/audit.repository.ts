import type { Knex } from 'knex';
import { chainEvents } from '../records/audit';
import type { AuditEvent, AuditEventDraft } from '../records/audit';
import type { AuditAppender } from '../records/ports';
import { auditFromRow } from './mappers';
import type { AuditRow } from './mappers';

/**
 * Appends hash-chained events in two statements, however many accounts they touch: one upsert on
 * `audit_heads` takes the accounts' row locks (in sorted order, so two transactions touching the
 * same accounts cannot deadlock; appenders of one account wait until commit, other accounts do
 * not) and returns their current heads; then all events and the new heads are written at once.
 */
export class KnexAuditAppender implements AuditAppender {
  constructor(private readonly trx: Knex.Transaction) {}

  async append(drafts: readonly AuditEventDraft[]): Promise<AuditEvent[]> {
    if (drafts.length === 0) return [];
    const byAccount = new Map<string, number[]>();
    drafts.forEach((d, i) => {
      const list = byAccount.get(d.account_id);
      if (list) list.push(i);
      else byAccount.set(d.account_id, [i]);
    });
    const accounts = [...byAccount.keys()].sort();
    const headOf = new Map((await this.lockAndRead(accounts)).map((h) => [h.account_id, h]));
    const chained = accounts.flatMap((a) => chainEvents(headOf.get(a)!, byAccount.get(a)!.map((i) => drafts[i]!)));
    const lastOf = new Map(chained.map((e) => [e.account_id, e]));
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
    const inserted = await this.trx.raw<{ rows: { id: string; account_id: string; seq: number }[] }>(
      `WITH ins AS (
         INSERT INTO audit_events (account_id, seq, record_id, type, actor, occurred_at, data, prev_hash, hash)
         VALUES ${values} RETURNING id, account_id, seq
       ), head AS (
         UPDATE audit_heads h SET seq = v.seq, hash = v.hash, updated_at = now()
           FROM unnest(?::text[], ?::int[], ?::text[]) AS v(account_id, seq, hash)
          WHERE h.account_id = v.account_id
       )
       SELECT id, account_id, seq FROM ins`,
      [...bindings, [...lastOf.keys()], [...lastOf.values()].map((e) => e.seq), [...lastOf.values()].map((e) => e.hash)],
    );
    const idOf = new Map(inserted.rows.map((r) => [`${r.account_id}\u0000${r.seq}`, String(r.id)]));
    // Returned in the order the drafts were given.
    const out: AuditEvent[] = new Array<AuditEvent>(drafts.length);
    const order = accounts.flatMap((a) => byAccount.get(a)!);
    chained.forEach((e, k) => {
      out[order[k]!] = { ...e, id: idOf.get(`${e.account_id}\u0000${e.seq}`)! };
    });
    return out;
  }

  async lockHeads(accountIds: readonly string[]): Promise<void> {
    if (accountIds.length > 0) await this.lockAndRead([...new Set(accountIds)].sort());
  }

  /** Locks (creating if needed) the heads of `sorted` accounts and returns them as they are now. */
  private async lockAndRead(sorted: readonly string[]): Promise<{ account_id: string; seq: number; hash: string | null }[]> {
    // unnest yields the sorted array in order, so the rows are locked in that order. An upsert
    // sees the newest committed head even if it changed after this transaction's snapshot.
    const heads = await this.trx.raw<{ rows: { account_id: string; seq: number; hash: string | null }[] }>(
      `INSERT INTO audit_heads (account_id, seq, hash) SELECT a, 0, NULL FROM unnest(?::text[]) AS a
       ON CONFLICT (account_id) DO UPDATE SET account_id = EXCLUDED.account_id
       RETURNING account_id, seq, hash`,
      [[...sorted]],
    );
    return heads.rows;
  }

  async latestForRecord(recordId: string, type: string): Promise<AuditEvent | null> {
    const row = await this.trx<AuditRow>('audit_events').where({ record_id: recordId, type }).orderBy('id', 'desc').first();
    return row ? auditFromRow(row) : null;
  }
}
