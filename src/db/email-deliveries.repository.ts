import type { Knex } from 'knex';
import type { EmailDeliveryRepository } from '../records/ports';

export class KnexEmailDeliveryRepository implements EmailDeliveryRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async ensure(key: string, recordId: string, outcome: string, messageId: string): Promise<'pending' | 'sent' | 'skipped'> {
    await this.db('email_deliveries').insert({ key, record_id: recordId, outcome, status: 'pending', message_id: messageId }).onConflict('key').ignore();
    const row = await this.db('email_deliveries').where({ key }).first('status');
    return row.status;
  }

  async markSent(key: string, response: string): Promise<void> {
    await this.db('email_deliveries').where({ key }).update({ status: 'sent', smtp_response: response.slice(0, 500), sent_at: this.db.fn.now() });
  }

  async markSkipped(key: string, why: string): Promise<void> {
    await this.db('email_deliveries').where({ key }).update({ status: 'skipped', smtp_response: why.slice(0, 500) });
  }
}
