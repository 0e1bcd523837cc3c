import type { Knex } from 'knex';
import type { EmailDeliveryRepository, EmailDeliveryStatus } from '../records/ports';

export class KnexEmailDeliveryRepository implements EmailDeliveryRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async ensure(key: string, recordId: string, outcome: string, messageId: string): Promise<EmailDeliveryStatus> {
    await this.db('email_deliveries').insert({ key, record_id: recordId, outcome, status: 'pending', message_id: messageId }).onConflict('key').ignore();
    const row = await this.db('email_deliveries').where({ key }).first('status');
    return row.status;
  }

  async claim(key: string, leaseMs: number): Promise<boolean> {
    const rows = await this.db('email_deliveries')
      .where({ key })
      .andWhere((q) =>
        q
          .where({ status: 'pending' })
          .orWhere((w) => w.where({ status: 'sending' }).andWhere('claimed_at', '<', this.db.raw(`now() - make_interval(secs => ?)`, [leaseMs / 1000]))),
      )
      .update({ status: 'sending', claimed_at: this.db.fn.now() })
      .returning('key');
    return rows.length === 1;
  }

  async release(key: string): Promise<void> {
    await this.db('email_deliveries').where({ key, status: 'sending' }).update({ status: 'pending', claimed_at: null });
  }

  async markSent(key: string, response: string, subject: string): Promise<void> {
    await this.db('email_deliveries')
      .where({ key })
      .update({ status: 'sent', smtp_response: response.slice(0, 500), subject: subject.slice(0, 500), sent_at: this.db.fn.now() });
  }

  async markAudited(key: string): Promise<{ subject: string | null; message_id: string } | null> {
    const rows = await this.db('email_deliveries')
      .where({ key, status: 'sent' })
      .whereNull('audited_at')
      .update({ audited_at: this.db.fn.now() })
      .returning(['subject', 'message_id']);
    return rows[0] ?? null;
  }

  async markSkipped(key: string, why: string): Promise<void> {
    await this.db('email_deliveries')
      .where({ key })
      .update({ status: 'skipped', smtp_response: why.slice(0, 500) });
  }
}
