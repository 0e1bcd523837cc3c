import type { Knex } from 'knex';
import type { OutboxMessage, OutboxWriter } from '../records/ports';

/**
 * Every statement on the `outbox` table: writing rows with the change that causes them
 * (`KnexOutboxWriter`, inside a unit of work), and what the relay and the workers do with them
 * (`OutboxQueue`). Nothing else in the service touches the table.
 */

export const TICKET_SYNC_TOPIC = 'zendesk.sync';

export class KnexOutboxWriter implements OutboxWriter {
  constructor(private readonly trx: Knex | Knex.Transaction) {}

  /** A key already present is kept as it is: the side effect it stands for is already on its way. */
  async add(messages: readonly OutboxMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.trx('outbox')
      .insert(
        messages.map((m) => ({
          topic: m.topic,
          key: m.key,
          payload: JSON.stringify(m.payload),
          ...(m.available_at ? { available_at: m.available_at } : {}),
        })),
      )
      .onConflict('key')
      .ignore();
  }

  async complete(keys: readonly string[], error: string | null = null): Promise<void> {
    if (keys.length === 0) return;
    await this.trx('outbox')
      .whereIn('key', keys)
      .whereNull('completed_at')
      .update({
        completed_at: this.trx.fn.now(),
        published_at: this.trx.raw('coalesce(published_at, now())'),
        last_error: error === null ? null : error.slice(0, 2000),
      });
  }

  async completeTicketSyncs(recordId: string, version: number): Promise<void> {
    await this.trx('outbox')
      .whereRaw("payload->>'record_id' = ?", [recordId])
      .where({ topic: TICKET_SYNC_TOPIC })
      .whereNull('completed_at')
      .whereRaw("coalesce((payload->>'version')::int, 0) <= ?", [version])
      .update({ completed_at: this.trx.fn.now(), published_at: this.trx.raw('coalesce(published_at, now())'), last_error: null });
  }
}

/** A row as the relay publishes it. */
export interface OutboxRow {
  id: string;
  topic: string;
  key: string;
  payload: Record<string, unknown>;
  available_at: Date;
}

/** The relay's and the workers' side of the outbox (outside any use-case's unit of work). */
export class OutboxQueue {
  constructor(private readonly db: Knex) {}

  /**
   * Locks up to `limit` unpublished rows (SKIP LOCKED, so relays share the work), lets `publish`
   * put them in Redis, and marks them published in the same transaction.
   */
  publishBatch(limit: number, publish: (rows: OutboxRow[]) => Promise<void>): Promise<number> {
    return this.db.transaction(async (trx) => {
      const rows: OutboxRow[] = await trx('outbox')
        .select('id', 'topic', 'key', 'payload', 'available_at')
        .whereNull('published_at')
        .orderBy('id')
        .limit(limit)
        .forUpdate()
        .skipLocked();
      if (rows.length === 0) return 0;
      await publish(rows);
      await trx('outbox')
        .whereIn(
          'id',
          rows.map((r) => r.id),
        )
        .update({ published_at: trx.fn.now(), attempts: trx.raw('attempts + 1') });
      return rows.length;
    });
  }

  /** Published, unfinished rows published before `before`, after id `after`, in id order. */
  inFlight(before: Date, after: string, limit: number): Promise<OutboxRow[]> {
    return this.db('outbox')
      .select('id', 'topic', 'key', 'payload', 'available_at')
      .whereNotNull('published_at')
      .whereNull('completed_at')
      .where('published_at', '<', before)
      .where('id', '>', after)
      .orderBy('id')
      .limit(limit);
  }

  /** Marks rows done outside a use-case (a job whose processor did not complete its own row). */
  async complete(keys: readonly string[], error: string | null = null): Promise<void> {
    await new KnexOutboxWriter(this.db).complete(keys, error);
  }

  /** Marks every open sync row of a record done (a sync job given up: a later change queues a new one). */
  async completeTicketSyncs(recordId: string, error: string | null): Promise<void> {
    await this.db('outbox')
      .whereRaw("payload->>'record_id' = ?", [recordId])
      .where({ topic: TICKET_SYNC_TOPIC })
      .whereNull('completed_at')
      .update({
        completed_at: this.db.fn.now(),
        published_at: this.db.raw('coalesce(published_at, now())'),
        last_error: error === null ? null : error.slice(0, 2000),
      });
  }

  /** Marks open rows done without running them (a decided approval's reminders). */
  async cancel(keys: readonly string[], why: string): Promise<void> {
    await this.db('outbox').whereIn('key', keys).whereNull('completed_at').update({ completed_at: this.db.fn.now(), last_error: why });
  }
}
