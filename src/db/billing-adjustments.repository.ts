import type { Knex } from 'knex';
import type { BillingEffect } from '../records/billing';
import type { BillingAdjustment, BillingAdjustmentRepository, BillingResult, ConfirmedAdjustment, StoredAdjustment } from '../records/ports';

const COLUMNS = ['idempotency_key', 'status', 'provider_ref', 'attempts', 'result'] as const;

export class KnexBillingAdjustmentRepository implements BillingAdjustmentRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async ensure(adj: BillingAdjustment, provider: string, step: string): Promise<StoredAdjustment> {
    await this.db('billing_adjustments')
      .insert({ idempotency_key: adj.idempotencyKey, record_id: adj.recordId, step, provider, status: 'pending', request: JSON.stringify(adj) })
      .onConflict('idempotency_key')
      .ignore();
    return this.db('billing_adjustments')
      .where({ idempotency_key: adj.idempotencyKey })
      .first(...COLUMNS);
  }

  async get(key: string): Promise<StoredAdjustment | null> {
    const row = await this.db('billing_adjustments')
      .where({ idempotency_key: key })
      .first(...COLUMNS);
    return row ?? null;
  }

  async markSucceeded(key: string, result: BillingResult): Promise<boolean> {
    const n = await this.db('billing_adjustments')
      .where({ idempotency_key: key })
      .whereNot({ status: 'succeeded' })
      .update({ status: 'succeeded', provider_ref: result.providerRef, result: JSON.stringify(result), last_error: null, updated_at: this.db.fn.now() });
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

  async confirmed(recordId: string): Promise<ConfirmedAdjustment[]> {
    const rows = await this.db('billing_adjustments')
      .where({ record_id: recordId, status: 'succeeded' })
      .whereNotNull('result')
      .orderBy('created_at')
      .orderBy('idempotency_key')
      .select('idempotency_key', 'step', 'request', 'result');
    return rows
      .map((r: { idempotency_key: string; step: string; request: { effect?: BillingEffect }; result: BillingResult }) => ({
        idempotency_key: r.idempotency_key,
        step: r.step,
        effect: r.request.effect!,
        result: r.result,
      }))
      .filter((r) => r.effect !== undefined);
  }

  async pendingForAccount(accountId: string, since: Date): Promise<boolean> {
    const row = await this.db('billing_adjustments as b')
      .join('lifecycle_records as r', 'r.id', 'b.record_id')
      .where('b.status', 'pending')
      .where('b.updated_at', '>=', since)
      .where((q) => q.where('r.account_id', accountId).orWhereRaw(`r.details->'merge'->>'target_account_id' = ?`, [accountId]))
      .first(this.db.raw('1 as one'));
    return !!row;
  }
}
