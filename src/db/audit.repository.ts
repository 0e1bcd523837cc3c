import type { Knex } from 'knex';
import { hashedContentPieces } from '../records/audit';
import type { AuditEvent, AuditEventDraft } from '../records/audit';
import type { AuditAppender } from '../records/ports';
import { auditFromRow } from './mappers';
import { randomUUID } from 'node:crypto';
import { separatePersonalData } from '../records/personal-data';
import type { PersonalItem } from '../records/personal-data';
import { resolveEvents } from './personal-data.repository';
import type { AuditRow } from './mappers';

/**
 * Appends hash-chained events in one round trip, however many accounts they touch: the database
 * function `audit_append` (migrations/…_create_audit_append_function) locks the accounts' heads in
 * sorted order (two transactions touching the same accounts cannot deadlock; appenders of one
 * account wait until commit, other accounts do not), chains and hashes each event onto its head,
 * inserts them and moves the heads. The hash is computed from the same canonical JSON
 * `computeEventHash` uses, sent in pieces around the previous hash and the seq.
 */
export class KnexAuditAppender implements AuditAppender {
  /** A transaction, or the pool itself: one call is atomic on its own. */
  constructor(private readonly trx: Knex | Knex.Transaction) {}

  async append(given: readonly AuditEventDraft[]): Promise<AuditEvent[]> {
    if (given.length === 0) return [];
    // Personal values go to the erasable side table; the chained event keeps references to them.
    const items: PersonalItem[] = [];
    const drafts = given.map((d) => {
      const s = separatePersonalData(d, randomUUID);
      items.push(...s.items);
      return s.draft;
    });
    // Grouped by account (the function chains each account's run in order); stable within an account.
    const order = drafts
      .map((_, i) => i)
      .sort((a, b) => (drafts[a]!.account_id < drafts[b]!.account_id ? -1 : drafts[a]!.account_id > drafts[b]!.account_id ? 1 : a - b));
    const sorted = order.map((i) => drafts[i]!);
    const pieces = sorted.map(hashedContentPieces);
    const result = await this.trx.raw<{
      rows: { event_id: string; event_account: string; event_seq: number; event_prev: string | null; event_hash: string }[];
    }>(
      // Personal values go to the side table in the same statement (a data-modifying CTE runs to
      // completion whether or not it is read): both writes or neither, still one round trip.
      `WITH personal AS (
         INSERT INTO personal_data (id, account_id, record_id, kind, value)
         SELECT * FROM unnest(?::uuid[], ?::text[], ?::uuid[], ?::text[], ?::text[])
       )
       SELECT * FROM audit_append(?::text[], ?::uuid[], ?::text[], ?::jsonb[], ?::timestamptz[], ?::jsonb[], ?::text[], ?::text[], ?::text[])`,
      [
        items.map((p) => p.id),
        items.map((p) => p.account_id),
        items.map((p) => p.record_id) as string[],
        items.map((p) => p.kind),
        items.map((p) => p.value),
        sorted.map((d) => d.account_id),
        sorted.map((d) => d.record_id) as string[],
        sorted.map((d) => d.type),
        sorted.map((d) => JSON.stringify(d.actor)),
        sorted.map((d) => d.occurred_at),
        sorted.map((d) => JSON.stringify(d.data)),
        pieces.map((p) => p.head),
        pieces.map((p) => p.mid),
        pieces.map((p) => p.tail),
      ],
    );
    // Returned in the order the drafts were given.
    const out: AuditEvent[] = new Array<AuditEvent>(drafts.length);
    result.rows.forEach((r, k) => {
      out[order[k]!] = { ...sorted[k]!, id: String(r.event_id), seq: r.event_seq, prev_hash: r.event_prev, hash: r.event_hash };
    });
    return out;
  }

  async lockHeads(accountIds: readonly string[]): Promise<void> {
    if (accountIds.length === 0) return;
    // Rows are locked in the order the SELECT yields them: byte order of the ids, as audit_append
    // locks them, so the two cannot deadlock. An upsert also sees a head committed after this
    // transaction's snapshot, and creates the heads of new accounts.
    await this.trx.raw(
      `INSERT INTO audit_heads (account_id, seq, hash) SELECT a, 0, NULL FROM unnest(?::text[]) AS a GROUP BY a ORDER BY a COLLATE "C"
       ON CONFLICT (account_id) DO UPDATE SET account_id = EXCLUDED.account_id`,
      [[...accountIds]],
    );
  }

  async latestForRecord(recordId: string, type: string): Promise<AuditEvent | null> {
    const row = await this.trx<AuditRow>('audit_events').where({ record_id: recordId, type }).orderBy('id', 'desc').first();
    return row ? (await resolveEvents(this.trx, [auditFromRow(row)]))[0]! : null;
  }
}
