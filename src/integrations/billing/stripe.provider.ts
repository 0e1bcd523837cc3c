import Stripe from 'stripe';
import { AppError } from '../../records/errors';
import type { BillingAdjustment, BillingProvider, BillingResult } from '../../records/ports';

export interface StripeProviderOptions {
  readonly apiKey: string;
  /** Overrides for tests and proxies (the SDK's own host/port/protocol settings). */
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: 'http' | 'https';
  readonly timeoutMs?: number;
  /** Catalog plan id → currency → Stripe price id. */
  readonly priceIds: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** Stripe error types that another attempt can fix; everything else is a request that must change. */
const RETRYABLE = new Set(['StripeRateLimitError', 'StripeAPIError', 'StripeConnectionError', 'StripeLockTimeoutError']);

/**
 * Billing through Stripe with the official SDK. Plan changes update the customer's active
 * subscription (Stripe prorates upgrades; downgrades, which apply at term end, do not prorate);
 * money-only adjustments (service credits, fees) are customer balance transactions (negative =
 * credit, applied to the next invoice); terminations cancel at period end. Each call carries its
 * own idempotency key derived from the adjustment's, so a retried adjustment never bills twice.
 * Retries are the job system's (maxNetworkRetries 0), so each attempt is visible and bounded.
 */
export class StripeBillingProvider implements BillingProvider {
  readonly name = 'stripe' as const;
  private readonly stripe: Stripe;

  constructor(private readonly opts: StripeProviderOptions) {
    this.stripe = new Stripe(opts.apiKey, {
      maxNetworkRetries: 0,
      timeout: opts.timeoutMs ?? 10_000,
      ...(opts.host ? { host: opts.host } : {}),
      ...(opts.port ? { port: opts.port } : {}),
      ...(opts.protocol ? { protocol: opts.protocol } : {}),
    });
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const e = err as { type?: string; code?: string; statusCode?: number; message?: string };
      const retryable = RETRYABLE.has(e.type ?? '') || (e.statusCode ?? 0) >= 500;
      throw new AppError('provider_failed', `Stripe ${what} failed (${e.type ?? 'error'}${e.code ? `/${e.code}` : ''}): ${(e.message ?? '').slice(0, 200)}`, {
        cause: err,
        retryable,
        details: { status: e.statusCode ?? null },
      });
    }
  }

  private customer(adj: BillingAdjustment): string {
    if (!adj.billingCustomerId) {
      throw new AppError('provider_failed', `account ${adj.accountId} has no billing customer id; set it (accounts import) before billing through Stripe`, { retryable: false });
    }
    return adj.billingCustomerId;
  }

  private async activeSubscription(customer: string) {
    const subs = await this.call('subscription lookup', () => this.stripe.subscriptions.list({ customer, status: 'active', limit: 1 }));
    const sub = subs.data[0];
    if (!sub) throw new AppError('provider_failed', `Stripe customer ${customer} has no active subscription to change`, { retryable: false });
    return sub;
  }

  async applyAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const refs: string[] = [];
    const isPlanChange = adj.toPlan !== null && (adj.kind === 'upgrade' || adj.kind === 'downgrade');
    if (isPlanChange || adj.cancelAtPeriodEnd) {
      const customer = this.customer(adj);
      const sub = await this.activeSubscription(customer);
      const params: Stripe.SubscriptionUpdateParams = {};
      if (isPlanChange) {
        const currency = adj.amount?.currency ?? sub.currency.toUpperCase();
        const price = this.opts.priceIds[adj.toPlan!]?.[currency];
        if (!price) throw new AppError('provider_failed', `no Stripe price for plan ${adj.toPlan} in ${currency}; add it to STRIPE_PRICE_MAP_FILE`, { retryable: false });
        params.items = [{ id: sub.items.data[0]!.id, price }];
        params.proration_behavior = adj.kind === 'upgrade' ? 'create_prorations' : 'none';
      }
      if (adj.cancelAtPeriodEnd) params.cancel_at_period_end = true;
      const updated = await this.call('subscription update', () => this.stripe.subscriptions.update(sub.id, params, { idempotencyKey: `${adj.idempotencyKey}.sub` }));
      refs.push(updated.id);
    }
    // Plan changes are priced by Stripe itself; other money goes to the customer balance.
    if (!isPlanChange && adj.amount && adj.amount.amount_minor !== 0) {
      const customer = this.customer(adj);
      const tx = await this.call('balance adjustment', () =>
        this.stripe.customers.createBalanceTransaction(
          customer,
          {
            amount: adj.amount!.amount_minor,
            currency: adj.amount!.currency.toLowerCase(),
            description: adj.description.slice(0, 350),
            metadata: { record_id: adj.recordId, idempotency_key: adj.idempotencyKey },
          },
          { idempotencyKey: `${adj.idempotencyKey}.bal` },
        ),
      );
      refs.push(tx.id);
    }
    return { providerRef: refs.length ? `stripe:${refs.join(',')}` : 'stripe:none' };
  }
}
