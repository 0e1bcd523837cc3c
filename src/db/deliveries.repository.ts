import type { Knex } from 'knex';
import type { DeliveryClaim, DeliveryRepository } from '../records/ports';

export class KnexDeliveryRepository implements DeliveryRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async claim(d: DeliveryClaim): Promise<boolean> {
    // A concurrent claim of the same key waits on the primary key until the first commits, then conflicts.
    const rows = await this.db('webhook_deliveries')
      .insert({ source: d.source, delivery_key: d.key, ticket_id: d.ticketId, ticket_updated_at: d.ticketUpdatedAt, outcome: 'received' })
      .onConflict(['source', 'delivery_key'])
      .ignore()
      .returning('delivery_key');
    return rows.length === 1;
  }

  async setOutcome(source: string, key: string, outcome: string, recordId: string | null): Promise<void> {
    await this.db('webhook_deliveries').where({ source, delivery_key: key }).update({ outcome, record_id: recordId });
  }

  async newestTicketUpdate(source: string, ticketId: string): Promise<string | null> {
    const row = await this.db('webhook_deliveries')
      .where({ source, ticket_id: ticketId })
      .whereIn('outcome', ['created', 'revised', 'submitted', 'unchanged'])
      .max<{ max: Date | null }>('ticket_updated_at as max')
      .first();
    return row?.max ? new Date(row.max).toISOString() : null;
  }
}
