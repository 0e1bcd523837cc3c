import type { Knex } from 'knex';
import type { OutboxMessage, OutboxWriter } from '../records/ports';

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
}
