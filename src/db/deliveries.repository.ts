import type { Knex } from 'knex';
import type { DeliveryClaim, DeliveryOutcome, DeliveryRepository } from '../records/ports';

/** Outcomes after which a delivery's ticket version counts as applied (later, older versions are stale). */
const APPLIED_OUTCOMES = ['created', 'revised', 'submitted', 'unchanged', 'in_progress'];

export class KnexDeliveryRepository implements DeliveryRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async claimMany(deliveries: readonly DeliveryClaim[]): Promise<Set<string>> {
    if (deliveries.length === 0) return new Set();
    // A concurrent claim of the same key waits on the primary key until the first commits, then
    // conflicts; inserting in key order keeps two overlapping batches from deadlocking. Either
    // unique key (the delivery key, or the signed key) conflicting makes the claim a replay, so
    // the conflict target is left open.
    const sorted = [...deliveries].sort((a, b) => (a.source + a.key < b.source + b.key ? -1 : 1));
    const rows: { source: string; delivery_key: string }[] = await this.db('webhook_deliveries')
      .insert(
        sorted.map((d) => ({
          source: d.source,
          delivery_key: d.key,
          signed_key: d.signedKey ?? null,
          ticket_id: d.ticketId,
          ticket_updated_at: d.ticketUpdatedAt,
          outcome: 'received',
        })),
      )
      .onConflict()
      .ignore()
      .returning(['source', 'delivery_key']);
    return new Set(rows.map((r) => r.delivery_key));
  }

  async setOutcomes(outcomes: readonly DeliveryOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    await this.db.raw(
      `UPDATE webhook_deliveries d SET outcome = v.outcome, record_id = v.record_id::uuid
         FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS v(source, delivery_key, outcome, record_id)
        WHERE d.source = v.source AND d.delivery_key = v.delivery_key`,
      [outcomes.map((o) => o.source), outcomes.map((o) => o.key), outcomes.map((o) => o.outcome), outcomes.map((o) => o.recordId) as unknown as string[]],
    );
  }

  async newestTicketUpdates(source: string, ticketIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (ticketIds.length === 0) return out;
    const { rows } = await this.db.raw<{ rows: { ticket_id: string; newest: Date }[] }>(
      `SELECT ticket_id, max(ticket_updated_at) AS newest FROM webhook_deliveries
        WHERE source = ? AND ticket_id = ANY(?::text[]) AND outcome = ANY(?::text[]) AND ticket_updated_at IS NOT NULL
        GROUP BY ticket_id`,
      [source, [...ticketIds], APPLIED_OUTCOMES],
    );
    for (const r of rows) out.set(r.ticket_id, new Date(r.newest).toISOString());
    return out;
  }
}
