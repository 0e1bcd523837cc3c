import type { Knex } from 'knex';
import type { BillingAdjustment, BillingAdjustmentRepository, StoredAdjustment } from '../records/ports';

export class KnexBillingAdjustmentRepository implements BillingAdjustmentRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async ensure(adj: BillingAdjustment, provider: string, step: string): Promise<StoredAdjustment> {
    await this.db('billing_adjustments')
      .insert({ idempotency_key: adj.idempotencyKey, record_id: adj.recordId, step, provider, status: 'pending', request: JSON.stringify(adj) })
      .onConflict('idempotency_key')
      .ignore();
    return this.db('billing_adjustments').where({ idempotency_key: adj.idempotencyKey }).first('idempotency_key', 'status', 'provider_ref', 'attempts');
  }

  async get(key: string): Promise<StoredAdjustment | null> {
    const row = await this.db('billing_adjustments').where({ idempotency_key: key }).first('idempotency_key', 'status', 'provider_ref', 'attempts');
    return row ?? null;
  }

  async markSucceeded(key: string, providerRef: string): Promise<boolean> {
    const n = await this.db('billing_adjustments')
      .where({ idempotency_key: key })
      .whereNot({ status: 'succeeded' })
      .update({ status: 'succeeded', provider_ref: providerRef, last_error: null, updated_at: this.db.fn.now() });
    return n === 1;
  }

  async markAttempt(key: string, error: string | null, final: boolean): Promise<void> {
    await this.db('billing_adjustments')
      .where({ idempotency_key: key })
      .whereNot({ status: 'succeeded' })
      .update({
        attempts: this.db.raw('attempts + 1'),
        last_error: error?.slice(0, 2000) ?? null,
        ...(final ? { status: 'failed' } : {}),
        updated_at: this.db.fn.now(),
      });
  }
}
