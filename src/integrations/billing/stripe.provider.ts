import Stripe from 'stripe';
import { retryAfterMs } from '../http/retry-after';
import { redactEmails } from './redact';
import { AppError } from '../../records/errors';
import { currencyExponent } from '../../records/money';
import type { Money } from '../../records/money';
import type { BillingAdjustment, BillingProvider, BillingResult } from '../../records/ports';

export interface StripeProviderOptions {
  /** Secret key (`sk_…`) or a restricted key (`rk_…`) that may write Customers and Subscriptions. Never logged. */
  readonly apiKey: string;
  /** Overrides for tests and proxies (the SDK's own host/port/protocol settings); default api.stripe.com:443 over https. */
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: 'http' | 'https';
  /**
   * Per-request timeout, default 20 000 ms: under the job lock, so a stuck call cannot outlive the
   * job that made it. A timed-out call is retryable; its retry carries the same idempotency key.
   */
  readonly timeoutMs?: number;
  /** Catalog plan id → ISO currency (upper case) → Stripe price id (`price_…`). */
  readonly priceIds: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

/** What one adjustment asks of Stripe; pure, so the mapping is testable without a server. */
export interface StripeSteps {
  /** Move the subscription's plan item to this catalog plan, prorating or not. */
  readonly planChange: { readonly toPlan: string; readonly prorationBehavior: 'create_prorations' | 'none' } | null;
  readonly cancelAtPeriodEnd: boolean;
  /** Posted to the customer balance: positive is a charge, negative a credit (applied to the next invoice). */
  readonly balance: Money | null;
}

/**
 * The Stripe calls an adjustment needs. Plan changes are priced by Stripe from the mapped prices
 * (the domain's amount for them is the price delta or its proration, which Stripe computes
 * itself), so only money-only adjustments and termination fees reach the customer balance.
 */
export function stripeStepsFor(adj: Pick<BillingAdjustment, 'kind' | 'toPlan' | 'amount' | 'cancelAtPeriodEnd'>): StripeSteps {
  const isPlanChange = adj.toPlan !== null && (adj.kind === 'upgrade' || adj.kind === 'downgrade');
  const planChange = isPlanChange
    ? // Upgrades apply at once and Stripe prorates; downgrades run at term end, where there is nothing to prorate.
      { toPlan: adj.toPlan!, prorationBehavior: adj.kind === 'upgrade' ? ('create_prorations' as const) : ('none' as const) }
    : null;
  // An upgrade or downgrade's amount is the price difference or its proration: Stripe prices those itself.
  const oneOff = adj.kind !== 'upgrade' && adj.kind !== 'downgrade' && adj.amount !== null && adj.amount.amount_minor !== 0;
  return { planChange, cancelAtPeriodEnd: adj.cancelAtPeriodEnd, balance: oneOff ? adj.amount : null };
}

/**
 * Stripe's "special cases": ISO 4217 (and so the domain) gives ISK and UGX no minor unit, but
 * Stripe's API still takes them with two decimals, so ISK 5 is `500`. (HUF and TWD have two in both.)
 */
const STRIPE_TWO_DECIMAL = new Set(['ISK', 'UGX']);

/** Domain minor units → the integer Stripe expects for that currency (JPY 500 → 500, EUR 12.34 → 1234, ISK 5 → 500). */
export function toStripeAmount(m: Money): number {
  const iso = currencyExponent(m.currency);
  const stripe = STRIPE_TWO_DECIMAL.has(m.currency) ? 2 : iso;
  const out = m.amount_minor * 10 ** (stripe - iso);
  if (!Number.isSafeInteger(out)) throw new AppError('provider_failed', `${m.currency} amount ${m.amount_minor} is too large for Stripe`, { retryable: false });
  return out;
}

/** Subscription states that still bill (or will): the ones a plan change or cancellation acts on. */
const LIVE = new Set(['active', 'trialing', 'past_due', 'unpaid', 'paused']);

/** How far a downgrade's effective instant may sit from the period end and still count as "at period end" (s). */
const PERIOD_END_TOLERANCE_S = 3600;

/** End of the current period of the subscription's plan item (newer API versions keep it on items). */
function planPeriodEnd(sub: Stripe.Subscription, mappedPrices: ReadonlySet<string>): number | null {
  const item = sub.items.data.find((i) => mappedPrices.has(i.price.id)) ?? sub.items.data[0];
  const fromItem = (item as { current_period_end?: number } | undefined)?.current_period_end;
  const fromSub = (sub as unknown as { current_period_end?: number }).current_period_end;
  return fromItem ?? fromSub ?? null;
}

/** Stripe's limit on idempotency keys; our derived keys add a suffix of 4 characters. */
const MAX_KEY = 255 - 4;

const SECRET_PATTERN = /\b(sk|rk|pk|whsec)_(live|test)?_?[A-Za-z0-9*]+/g;
/** Stripe's messages may echo a (masked) key or a customer's email; neither belongs in our errors, logs or Slack. */
const redact = (s: string) => redactEmails(s.replace(SECRET_PATTERN, '[redacted key]'));

const fail = (message: string, retryable: boolean, extra: { cause?: unknown; details?: Record<string, unknown> } = {}) =>
  new AppError('provider_failed', message, { retryable, ...extra });

/**
 * Billing through Stripe with the official SDK:
 *  - plan change → update the plan item of the customer's live subscription to the mapped price
 *    (`proration_behavior` create_prorations for upgrades, none for downgrades);
 *  - service credits, fees and other money → one customer balance transaction (negative = credit,
 *    applied to the next invoice);
 *  - termination or closure → `cancel_at_period_end=true`, plus the fee as a balance transaction;
 *  - a scheduled cancellation is also sent when it is scheduled (`cancel_at` = its instant), and
 *    so is a downgrade that takes effect at this period's end (`scheduleAdjustment`); both are
 *    taken back if the record is then cancelled (`unscheduleAdjustment`).
 * Every write carries its own idempotency key derived from the adjustment's (`<key>.sub`,
 * `<key>.bal`), so an adjustment retried after any failure has each effect once. Before writing,
 * the adapter also checks Stripe's state (the subscription already on the price, a balance
 * transaction already tagged with the key), which keeps a retry safe after Stripe's 24-hour key
 * window. Retries are the job system's (maxNetworkRetries 0), so each attempt is visible and bounded.
 */
export class StripeBillingProvider implements BillingProvider {
  readonly name = 'stripe' as const;
  private readonly stripe: Stripe;
  private readonly mappedPrices: ReadonlySet<string>;

  constructor(private readonly opts: StripeProviderOptions) {
    if (!opts.apiKey) throw new AppError('validation_failed', 'Stripe API key is empty; set STRIPE_API_KEY');
    this.stripe = new Stripe(opts.apiKey, {
      maxNetworkRetries: 0,
      timeout: opts.timeoutMs ?? 20_000,
      telemetry: false,
      appInfo: { name: 'lifecycle-desk' },
      ...(opts.host ? { host: opts.host } : {}),
      ...(opts.port ? { port: opts.port } : {}),
      ...(opts.protocol ? { protocol: opts.protocol } : {}),
    });
    this.mappedPrices = new Set(Object.values(opts.priceIds).flatMap((byCurrency) => Object.values(byCurrency)));
  }

  async applyAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const steps = stripeStepsFor(adj);
    if (!steps.planChange && !steps.cancelAtPeriodEnd && !steps.balance) return { providerRef: 'stripe:none' };
    this.checkAdjustment(adj, steps);
    const customer = adj.billingCustomerId!;
    const refs: string[] = [];
    if (steps.planChange || steps.cancelAtPeriodEnd) {
      const sub = await this.liveSubscription(adj, customer, steps.planChange !== null);
      // A customer with nothing live left to cancel is already where a cancellation would put it.
      if (sub) refs.push(await this.updateSubscription(adj, sub, steps));
    }
    if (steps.balance) refs.push(await this.balanceTransaction(adj, customer, steps.balance));
    return { providerRef: `stripe:${refs.join(',') || 'none'}` };
  }

  /**
   * Sent when an end-of-term change is scheduled, so Stripe does not renew into a period the
   * customer no longer owes: a cancellation becomes `cancel_at` = the effective instant, a
   * downgrade moves the plan item now with `proration_behavior=none` (the current period stays as
   * invoiced, the next renewal bills the new price). Fees and credits still go to the customer
   * balance at the effective instant, through `applyAdjustment`, which then finds the
   * subscription already as wanted.
   */
  async scheduleAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const steps = stripeStepsFor(adj);
    const downgrade = steps.planChange?.prorationBehavior === 'none' ? steps.planChange : null;
    if (!downgrade && !steps.cancelAtPeriodEnd) return { providerRef: 'stripe:none' };
    this.checkAdjustment(adj, { ...steps, planChange: downgrade });
    // A plan change will need a live subscription at its instant; better to learn now that there is none.
    const sub = await this.liveSubscription(adj, adj.billingCustomerId!, downgrade !== null);
    if (!sub) return { providerRef: 'stripe:none' };
    const at = adj.effectiveAt ? Math.floor(Date.parse(adj.effectiveAt) / 1000) : null;
    const params: Stripe.SubscriptionUpdateParams = {};
    // A downgrade moves now only when it takes effect at this period's end: then the current period
    // stays as invoiced and the renewal bills the new price. Any other date waits for its instant
    // (moving earlier would bill the lower price for periods the customer still owes in full).
    if (downgrade && at !== null && Math.abs((planPeriodEnd(sub, this.mappedPrices) ?? 0) - at) <= PERIOD_END_TOLERANCE_S) {
      const move = this.planItemMove(sub, downgrade.toPlan);
      if (move) params.items = [move];
    }
    if (steps.cancelAtPeriodEnd) {
      if (at === null) {
        if (!sub.cancel_at_period_end) params.cancel_at_period_end = true;
      } else if (!sub.cancel_at_period_end && !(sub.cancel_at && sub.cancel_at <= at)) {
        // An earlier cancellation (the customer's own, say) stands; ours is set otherwise.
        params.cancel_at = at;
      }
    }
    if (Object.keys(params).length === 0) return { providerRef: `stripe:${sub.id}` };
    params.proration_behavior = 'none';
    const updated = await this.call('subscription schedule', () => this.stripe.subscriptions.update(sub.id, params, { idempotencyKey: `${adj.idempotencyKey}.sub` }));
    return { providerRef: `stripe:${updated.id}` };
  }

  /**
   * Undoes `scheduleAdjustment` for a cancelled record, touching only what it set: a cancellation
   * at exactly our instant, a plan item on the new plan's price. A cancellation we set on a
   * subscription that is no longer live cannot be undone here: that is a final failure (the team
   * is alerted to reinstate it by hand).
   */
  async unscheduleAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const steps = stripeStepsFor(adj);
    const downgrade = steps.planChange?.prorationBehavior === 'none' ? steps.planChange : null;
    if (!downgrade && !steps.cancelAtPeriodEnd) return { providerRef: 'stripe:none' };
    this.checkAdjustment(adj, { ...steps, planChange: null });
    const sub = await this.liveSubscription(adj, adj.billingCustomerId!, false);
    if (!sub) {
      if (!steps.cancelAtPeriodEnd) return { providerRef: 'stripe:none' };
      throw fail(
        `Stripe customer ${adj.billingCustomerId} (account ${adj.accountId}) has no live subscription left, so the cancellation scheduled for record ${adj.recordId} may already have happened; reinstate the subscription in Stripe by hand`,
        false,
      );
    }
    const at = adj.effectiveAt ? Math.floor(Date.parse(adj.effectiveAt) / 1000) : null;
    const params: Stripe.SubscriptionUpdateParams = {};
    if (steps.cancelAtPeriodEnd && at !== null && sub.cancel_at === at && !sub.cancel_at_period_end) params.cancel_at = '';
    if (downgrade) {
      const currency = sub.currency.toUpperCase();
      const newPrice = this.opts.priceIds[downgrade.toPlan]?.[currency];
      const item = sub.items.data.find((i) => this.mappedPrices.has(i.price.id)) ?? sub.items.data[0];
      if (item && newPrice && item.price.id === newPrice) {
        if (!adj.fromPlan) throw fail(`record ${adj.recordId} does not say which plan it moved from; move Stripe subscription ${sub.id} back by hand`, false);
        const move = this.planItemMove(sub, adj.fromPlan);
        if (move) params.items = [move];
      }
    }
    if (Object.keys(params).length === 0) return { providerRef: `stripe:${sub.id}` };
    params.proration_behavior = 'none';
    const updated = await this.call('subscription unschedule', () => this.stripe.subscriptions.update(sub.id, params, { idempotencyKey: `${adj.idempotencyKey}.sub` }));
    return { providerRef: `stripe:${updated.id}` };
  }

  /** Checks what every write needs before anything is sent; each failure names what to fix. */
  private checkAdjustment(adj: BillingAdjustment, steps: StripeSteps): void {
    if (!adj.idempotencyKey || adj.idempotencyKey.length > MAX_KEY) {
      throw fail(`idempotency key of record ${adj.recordId} is empty or longer than ${MAX_KEY} characters`, false);
    }
    if (!adj.billingCustomerId) {
      throw fail(
        `account ${adj.accountId} has no billing customer id, so record ${adj.recordId} cannot be billed through Stripe; ` +
          `set the account's billing_customer_id to its Stripe customer (cus_…) with "lifecycle-desk accounts import", then "lifecycle-desk records retry ${adj.recordId}"`,
        false,
      );
    }
    if (steps.planChange && !this.opts.priceIds[steps.planChange.toPlan]) {
      throw fail(`plan ${steps.planChange.toPlan} has no Stripe price; add it to STRIPE_PRICE_MAP_FILE`, false);
    }
  }

  /** The item change that puts the subscription's plan item on `plan`'s price in its currency, or null when it already is. */
  private planItemMove(sub: Stripe.Subscription, plan: string): { id: string; price: string } | null {
    const currency = sub.currency.toUpperCase();
    const price = this.opts.priceIds[plan]?.[currency];
    if (!price) throw fail(`plan ${plan} has no Stripe price in ${currency} (subscription ${sub.id} bills in ${currency}); add it to STRIPE_PRICE_MAP_FILE`, false);
    const item = sub.items.data.find((i) => this.mappedPrices.has(i.price.id)) ?? sub.items.data[0];
    if (!item) throw fail(`Stripe subscription ${sub.id} has no items to move to plan ${plan}`, false);
    return item.price.id === price ? null : { id: item.id, price };
  }

  /** The one live subscription to act on; a plan change needs one, a cancellation accepts none. */
  private async liveSubscription(adj: BillingAdjustment, customer: string, required: boolean): Promise<Stripe.Subscription | null> {
    const list = await this.call('subscription lookup', () => this.stripe.subscriptions.list({ customer, limit: 20 }));
    const live = list.data.filter((s) => LIVE.has(s.status));
    if (live.length === 0) {
      if (!required) return null;
      throw fail(`Stripe customer ${customer} (account ${adj.accountId}) has no live subscription to change; create one in Stripe or check billing_customer_id`, false);
    }
    if (live.length === 1) return live[0]!;
    // Several: the one billing a catalog plan is the plan subscription (add-ons live beside it).
    const onPlan = live.filter((s) => s.items.data.some((i) => this.mappedPrices.has(i.price.id)));
    if (onPlan.length === 1) return onPlan[0]!;
    throw fail(
      `Stripe customer ${customer} (account ${adj.accountId}) has ${live.length} live subscriptions (${live.map((s) => s.id).join(', ')}) and ` +
        `${onPlan.length === 0 ? 'none' : 'several'} bill a plan from STRIPE_PRICE_MAP_FILE; leave one plan subscription, then retry the record`,
      false,
    );
  }

  private async updateSubscription(adj: BillingAdjustment, sub: Stripe.Subscription, steps: StripeSteps): Promise<string> {
    const params: Stripe.SubscriptionUpdateParams = {};
    if (steps.planChange) {
      const move = this.planItemMove(sub, steps.planChange.toPlan);
      if (move) {
        params.items = [move];
        params.proration_behavior = steps.planChange.prorationBehavior;
      }
    }
    // A cancellation already set for this period's end or earlier (ours from `scheduleAdjustment`,
    // or the customer's own) stands; a later one is brought forward to the period end.
    const periodEnd = planPeriodEnd(sub, this.mappedPrices);
    const setInTime = sub.cancel_at !== null && sub.cancel_at !== undefined && periodEnd !== null && sub.cancel_at <= periodEnd;
    if (steps.cancelAtPeriodEnd && !sub.cancel_at_period_end && !setInTime) params.cancel_at_period_end = true;
    // Already as wanted: an earlier attempt (or someone in the Dashboard) made this change.
    if (Object.keys(params).length === 0) return sub.id;
    const updated = await this.call('subscription update', () =>
      this.stripe.subscriptions.update(sub.id, params, { idempotencyKey: `${adj.idempotencyKey}.sub` }),
    );
    return updated.id;
  }

  private async balanceTransaction(adj: BillingAdjustment, customer: string, amount: Money): Promise<string> {
    // Stripe remembers idempotency keys for 24 hours; a record retried later (say from the CLI
    // after an outage) must still find what its first attempt posted. Newest first, one page.
    const recent = await this.call('balance lookup', () => this.stripe.customers.listBalanceTransactions(customer, { limit: 100 }));
    const posted = recent.data.find((t) => t.metadata?.idempotency_key === adj.idempotencyKey);
    if (posted) return posted.id;
    const tx = await this.call('balance adjustment', () =>
      this.stripe.customers.createBalanceTransaction(
        customer,
        {
          amount: toStripeAmount(amount),
          currency: amount.currency.toLowerCase(),
          description: adj.description.slice(0, 350),
          metadata: { record_id: adj.recordId, account_id: adj.accountId, kind: adj.kind, idempotency_key: adj.idempotencyKey },
        },
        { idempotencyKey: `${adj.idempotencyKey}.bal` },
      ),
    );
    return tx.id;
  }

  /** Runs one SDK call and turns its failure into AppError('provider_failed') with `retryable` set. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw stripeFailure(what, err);
    }
  }
}

/**
 * Stripe's errors, sorted by whether another attempt with the same key can succeed: rate limits,
 * Stripe-side errors (5xx, and 409 for a key whose first request is still running) and network
 * failures or timeouts can; invalid requests, card, idempotency, authentication and permission
 * errors need a change first (a config fix, a customer fix) and then `records retry`.
 */
export function stripeFailure(what: string, err: unknown): AppError {
  const E = Stripe.errors;
  if (!(err instanceof E.StripeError)) {
    return fail(`Stripe ${what} failed: ${redact((err as Error)?.message ?? String(err)).slice(0, 200)}`, true, { cause: err });
  }
  const status = err.statusCode ?? null;
  const headers = (err.headers ?? {}) as Record<string, string | undefined>;
  const shouldRetry = headers['stripe-should-retry'];
  const retryAfter = headers['retry-after'];
  const retryable =
    err instanceof E.StripeRateLimitError ||
    err instanceof E.StripeConnectionError ||
    (err instanceof E.StripeAPIError && !(err instanceof E.StripeIdempotencyError)) ||
    (status !== null && status >= 500) ||
    shouldRetry === 'true';
  const kind = err.rawType ?? (err instanceof E.StripeConnectionError ? 'connection_error' : err.type);
  const hint =
    err instanceof E.StripeAuthenticationError
      ? '— check STRIPE_API_KEY'
      : err instanceof E.StripePermissionError
        ? '— give the key write access to Customers and Subscriptions'
        : err instanceof E.StripeIdempotencyError
          ? '— the adjustment changed since its first attempt under this key; investigate before retrying'
          : err.code === 'resource_missing' && err.param === 'customer'
            ? "— check the account's billing_customer_id"
            : '';
  const parts = [
    `Stripe ${what} failed`,
    `(${status ?? 'no response'} ${kind}${err.code ? `/${err.code}` : ''}${err.param ? ` on ${err.param}` : ''})`,
    redact(err.message || '').slice(0, 300),
    retryAfter ? `— retry after ${retryAfter} s` : '',
    hint,
    err.requestId ? `[${err.requestId}]` : '',
  ];
  return fail(parts.filter(Boolean).join(' '), retryable, {
    cause: err,
    details: {
      status,
      type: kind,
      code: err.code ?? null,
      request_id: err.requestId ?? null,
      ...(retryAfter ? { retry_after_ms: retryAfterMs(retryAfter, new Date()) || null } : {}),
    },
  });
}
