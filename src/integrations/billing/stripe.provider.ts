import Stripe from 'stripe';
import { retryAfterMs } from '../http/retry-after';
import { redactEmails } from './redact';
import { AppError, RateLimitedError } from '../../records/errors';
import type { BillingEffect, ConfirmedMoney, SubscriptionFacts } from '../../records/billing';
import { currencyExponent } from '../../records/money';
import type { Money } from '../../records/money';
import type { BillingAdjustment, BillingPreview, BillingProvider, BillingResult, ProviderAccountState } from '../../records/ports';

export interface StripeProviderOptions {
  /** Secret key (`sk_…`) or a restricted key (`rk_…`) that may write Customers, Subscriptions, Invoices and Credit notes. Never logged. */
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
  /** The clock Stripe's own is compared with (cancellation instants must lie in the future). */
  readonly now?: () => Date;
}

/**
 * Stripe's "special cases": ISO 4217 (and so the domain) gives ISK and UGX no minor unit, but
 * Stripe's API still takes them with two decimals, so ISK 5 is `500`. (HUF and TWD have two in both.)
 */
const STRIPE_TWO_DECIMAL = new Set(['ISK', 'UGX']);

const stripeExtraDigits = (currency: string): number => (STRIPE_TWO_DECIMAL.has(currency) ? 2 : currencyExponent(currency)) - currencyExponent(currency);

/** Domain minor units → the integer Stripe expects for that currency (JPY 500 → 500, EUR 12.34 → 1234, ISK 5 → 500). */
export function toStripeAmount(m: Money): number {
  const out = m.amount_minor * 10 ** stripeExtraDigits(m.currency);
  if (!Number.isSafeInteger(out)) throw new AppError('provider_failed', `${m.currency} amount ${m.amount_minor} is too large for Stripe`, { retryable: false });
  return out;
}

/** Stripe's integer for a currency (lower or upper case) → domain Money; ISK 500 → ISK 5. */
export function fromStripeAmount(amount: number, currency: string): Money {
  const cur = currency.toUpperCase();
  const f = 10 ** stripeExtraDigits(cur);
  return { amount_minor: f === 1 ? amount : Math.round(amount / f), currency: cur };
}

/** Subscription states that still bill (or will): the ones a plan change or cancellation acts on. */
const LIVE = new Set(['active', 'trialing', 'past_due', 'unpaid', 'paused']);

/** How far a plan change's effective instant may sit from the period end and still count as "at period end" (s). */
const PERIOD_END_TOLERANCE_S = 3600;

/** Stripe's limit on idempotency keys; our derived keys add a suffix of at most 4 characters. */
const MAX_KEY = 255 - 4;

const SECRET_PATTERN = /\b(sk|rk|pk|whsec)_(live|test)?_?[A-Za-z0-9*]+/g;
/** Stripe's messages may echo a (masked) key or a customer's email; neither belongs in our errors, logs or Slack. */
const redact = (s: string) => redactEmails(s.replace(SECRET_PATTERN, '[redacted key]'));

const fail = (message: string, retryable: boolean, extra: { cause?: unknown; details?: Record<string, unknown> } = {}) =>
  new AppError('provider_failed', message, { retryable, ...extra });

const unix = (iso: string): number => Math.floor(Date.parse(iso) / 1000);
const isoOf = (s: number | null | undefined): string | null => (s === null || s === undefined ? null : new Date(s * 1000).toISOString());

type Sub = Stripe.Subscription;
type Item = Stripe.SubscriptionItem;

/** Period end of an item (newer API versions keep periods on items). */
const itemPeriodEnd = (item: Item | undefined): number | null => (item as { current_period_end?: number } | undefined)?.current_period_end ?? null;

/**
 * Billing through Stripe with the official SDK, one effect per call (see the README's billing
 * effects table): plan changes move the plan item (prorated at the effective instant, the one
 * previewed before approval); service credits become credit notes against the invoice of the
 * period they compensate, or customer balance credits; termination fees are invoice items on their
 * own finalized invoice; refunds are credit notes with `refund_amount`; suspensions pause
 * collection; reactivations clear it (or withdraw a cancellation, or start a new subscription);
 * deactivations, closures and merges cancel. The subscription acted on is the one live
 * subscription whose price is a catalog plan, never an add-on.
 *
 * Every write carries its own idempotency key derived from the adjustment's (`<key>.sub`,
 * `<key>.cn`, `<key>.inv`…), so an adjustment retried after any failure has each effect once.
 * Before writing, the adapter also checks Stripe's state (the subscription already as wanted, an
 * object already tagged with the key in its metadata), which keeps a retry safe after Stripe's
 * 24-hour key window. Retries are the job system's (maxNetworkRetries 0), so each attempt is
 * visible and bounded. Each answer reports what Stripe confirmed, in Stripe's own amounts.
 */
export class StripeBillingProvider implements BillingProvider {
  readonly name = 'stripe' as const;
  private readonly stripe: Stripe;
  private readonly mappedPrices: ReadonlySet<string>;
  /** Stripe price id → catalog plan. */
  private readonly planOfPrice: ReadonlyMap<string, string>;

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
    this.planOfPrice = new Map(Object.entries(opts.priceIds).flatMap(([plan, byCurrency]) => Object.values(byCurrency).map((price) => [price, plan] as const)));
    this.mappedPrices = new Set(this.planOfPrice.keys());
  }

  private now(): number {
    return Math.floor((this.opts.now?.() ?? new Date()).getTime() / 1000);
  }

  /** The catalog plan a Stripe price bills, or null for a price the map does not know (an add-on). */
  planOf(priceId: string): string | null {
    return this.planOfPrice.get(priceId) ?? null;
  }

  async applyAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    this.checkAdjustment(adj);
    const e = adj.effect;
    switch (e.type) {
      case 'plan_change':
        return this.changePlan(adj, e);
      case 'credit':
        return this.credit(adj, e);
      case 'fee':
        return this.fee(adj, e);
      case 'refund':
        return this.refund(adj, e);
      case 'cancel':
        return this.cancel(adj, e);
      case 'pause':
        return this.pause(adj, e);
      case 'resume':
        return this.resume(adj, e);
      case 'merge':
        return this.merge(adj, e);
      case 'void':
        return this.takeBack(adj, e);
    }
  }

  /**
   * Sent when a change is scheduled, so Stripe does not renew into a period the customer no longer
   * owes: a cancellation becomes `cancel_at` = the effective instant; a plan change that is not
   * prorated and takes effect at this period's end moves the plan item now with
   * `proration_behavior=none` (the current period stays as invoiced, the renewal bills the new
   * price). Anything else waits for its instant.
   */
  async scheduleAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const e = adj.effect;
    if (e.type !== 'plan_change' && !(e.type === 'cancel' && e.mode === 'at' && e.at)) return { providerRef: 'stripe:none' };
    this.checkAdjustment(adj);
    const sub = await this.planSubscription(adj, e.type === 'plan_change');
    if (!sub) return { providerRef: 'stripe:none' };
    const params: Stripe.SubscriptionUpdateParams = {};
    if (e.type === 'plan_change') {
      if (e.prorate || Math.abs((itemPeriodEnd(this.planItem(sub)) ?? 0) - unix(e.at)) > PERIOD_END_TOLERANCE_S) return { providerRef: 'stripe:none' };
      const move = this.planItemMove(sub, e.to_plan);
      if (move) params.items = [move];
    } else if (e.type === 'cancel' && e.at) {
      const at = unix(e.at);
      // An earlier cancellation (the customer's own, say) stands; ours is set otherwise.
      if (!sub.cancel_at_period_end && !(sub.cancel_at && sub.cancel_at <= at)) params.cancel_at = at;
    }
    const updated = await this.updateSubscription(adj, sub, params, 'schedule');
    return { providerRef: `stripe:${updated.id}`, subscription: this.facts(updated) };
  }

  /**
   * Undoes `scheduleAdjustment` for a cancelled record, touching only what it set: a cancellation
   * at exactly our instant, a plan item on the new plan's price. A cancellation we set on a
   * subscription that is no longer live cannot be undone here: that is a final failure (the team
   * is alerted to reinstate it by hand).
   */
  async unscheduleAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const e = adj.effect;
    if (e.type !== 'plan_change' && !(e.type === 'cancel' && e.mode === 'at')) return { providerRef: 'stripe:none' };
    this.checkAdjustment(adj);
    const sub = await this.planSubscription(adj, false);
    if (!sub) {
      if (e.type !== 'cancel') return { providerRef: 'stripe:none' };
      throw fail(
        `Stripe customer ${adj.billingCustomerId} (account ${adj.accountId}) has no live subscription left, so the cancellation scheduled for record ${adj.recordId} may already have happened; reinstate the subscription in Stripe by hand`,
        false,
      );
    }
    const params: Stripe.SubscriptionUpdateParams = {};
    if (e.type === 'cancel' && e.at && sub.cancel_at === unix(e.at) && !sub.cancel_at_period_end) params.cancel_at = '';
    if (e.type === 'plan_change') {
      const newPrice = this.opts.priceIds[e.to_plan]?.[sub.currency.toUpperCase()];
      if (newPrice && this.planItem(sub)?.price.id === newPrice) {
        const move = this.planItemMove(sub, e.from_plan);
        if (move) params.items = [move];
      }
    }
    const updated = await this.updateSubscription(adj, sub, params, 'unschedule');
    return { providerRef: `stripe:${updated.id}`, subscription: this.facts(updated) };
  }

  /**
   * Stripe's own figure before approval: for a prorated plan change, `invoices.createPreview`
   * with the same `proration_date` apply will send, summing the proration lines; for a
   * termination, what the customer owes today. Other effects have nothing for Stripe to preview.
   */
  async preview(adj: BillingAdjustment): Promise<BillingPreview> {
    const e = adj.effect;
    if (adj.kind === 'termination')
      return { provider: this.name, amount: null, outstanding: adj.billingCustomerId ? await this.outstanding(adj.billingCustomerId, adj.currency) : null };
    if (e.type !== 'plan_change' || !e.prorate) return { provider: this.name, amount: null };
    this.checkAdjustment(adj);
    const sub = await this.planSubscription(adj, true);
    const move = this.planItemMove(sub!, e.to_plan);
    const prorationDate = unix(e.at);
    const invoice = await this.call('invoice preview', () =>
      this.stripe.invoices.createPreview({
        customer: adj.billingCustomerId!,
        subscription: sub!.id,
        subscription_details: { items: move ? [move] : [], proration_behavior: 'create_prorations', proration_date: prorationDate },
      }),
    );
    const prorations = invoice.lines.data.filter(
      (l) => l.parent?.subscription_item_details?.proration === true || l.parent?.invoice_item_details?.proration === true,
    );
    const total = prorations.reduce((s, l) => s + l.amount, 0);
    return { provider: this.name, amount: fromStripeAmount(total, invoice.currency), prorationDate: isoOf(prorationDate) };
  }

  /** The plan subscription, its state, and the customer balance changed by adjustments and credit notes. */
  async accountState(account: { id: string; billingCustomerId: string | null; currency: string }): Promise<ProviderAccountState | null> {
    if (!account.billingCustomerId) return { subscription: null, planSubscriptions: 0, balance: null };
    const customer = account.billingCustomerId;
    const list = await this.call('subscription lookup', () => this.stripe.subscriptions.list({ customer, limit: 100 }));
    const onPlan = list.data.filter((s) => LIVE.has(s.status) && this.planItem(s));
    const sub = onPlan.length === 1 ? onPlan[0]! : null;
    let minor = 0;
    // Balance transactions Stripe makes on its own (applying a balance to an invoice…) are ordinary
    // billing; adjustments and credit notes are what Lifecycle Desk (or someone by hand) asked for.
    for await (const t of this.stripe.customers.listBalanceTransactions(customer, { limit: 100 })) {
      if (t.type === 'adjustment' || t.type === 'credit_note') minor += t.amount;
    }
    const f = sub ? this.facts(sub) : null;
    return {
      subscription: sub
        ? { id: sub.id, plan: f!.plan ?? null, cancel_at: f!.cancel_at ?? null, paused: f!.paused ?? false, pause_resumes_at: f!.pause_resumes_at ?? null }
        : null,
      planSubscriptions: onPlan.length,
      balance: fromStripeAmount(minor, account.currency),
    };
  }

  // --- effects --------------------------------------------------------------------------------

  private async changePlan(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'plan_change' }>): Promise<BillingResult> {
    const sub = (await this.planSubscription(adj, true))!;
    const move = this.planItemMove(sub, e.to_plan);
    const prorationDate = unix(e.at);
    const params: Stripe.SubscriptionUpdateParams = move
      ? { items: [move], proration_behavior: e.prorate ? 'create_prorations' : 'none', ...(e.prorate ? { proration_date: prorationDate } : {}) }
      : {};
    const updated = await this.updateSubscription(adj, sub, params, 'apply');
    const money: ConfirmedMoney[] = [];
    if (e.prorate) {
      // What Stripe itself prorated for this change: the items it created at the proration instant.
      const items = await this.call('invoice item lookup', () => this.stripe.invoiceItems.list({ customer: adj.billingCustomerId!, limit: 100 }));
      for (const ii of items.data) {
        const subId = ii.parent?.subscription_details?.subscription;
        if (!ii.proration || subId !== sub.id || ii.period.start !== prorationDate) continue;
        const m = fromStripeAmount(Math.abs(ii.amount), ii.currency);
        money.push({ type: ii.amount < 0 ? 'credit' : 'charge', purpose: 'proration', amount: m, destination: 'invoice', ref: ii.id });
      }
      // Credit for the unused time first, then the charge, as the ledger provider posts them.
      money.sort((a, b) => (a.type === b.type ? 0 : a.type === 'credit' ? -1 : 1));
    }
    const item = this.planItem(updated);
    const price =
      item?.price.unit_amount !== null && item?.price.unit_amount !== undefined ? fromStripeAmount(item.price.unit_amount, item.price.currency) : null;
    return { providerRef: `stripe:${updated.id}`, money, subscription: this.facts(updated), price };
  }

  /**
   * A service credit: a credit note against the invoice whose subscription period overlaps the
   * credited window most — first off what is still due on it, the rest onto the customer balance
   * (or refunded, when the invoice is paid and the catalog says so). Without such an invoice, or
   * one that cannot take the whole credit (already credited, a draft), a customer balance credit.
   */
  private async credit(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'credit' }>): Promise<BillingResult> {
    const customer = adj.billingCustomerId!;
    const amount = toStripeAmount(e.amount);
    const existing = await this.creditNoteTagged(customer, adj.idempotencyKey);
    if (existing) return this.creditNoteResult(existing, 'service_credit');
    const posted = await this.balanceTransactionTagged(customer, adj.idempotencyKey);
    if (posted)
      return {
        providerRef: `stripe:${posted.id}`,
        money: [
          { type: 'credit', purpose: 'service_credit', amount: fromStripeAmount(-posted.amount, posted.currency), destination: 'balance', ref: posted.id },
        ],
      };

    const invoice = await this.invoiceCovering(customer, unix(e.period_start), unix(e.period_end));
    if (invoice && invoice.currency === adj.currency.toLowerCase()) {
      const room = invoice.total - invoice.pre_payment_credit_notes_amount - invoice.post_payment_credit_notes_amount;
      if (room >= amount) {
        const pre = invoice.status === 'open' ? Math.min(amount, invoice.amount_remaining) : 0;
        const post = amount - pre;
        const refund = post > 0 && invoice.status === 'paid' && e.paid_invoice === 'refund';
        const note = await this.call('credit note', () =>
          this.stripe.creditNotes.create(
            {
              invoice: invoice.id,
              amount,
              ...(post > 0 ? (refund ? { refund_amount: post } : { credit_amount: post }) : {}),
              memo: adj.description.slice(0, 500),
              metadata: this.metadata(adj),
            },
            { idempotencyKey: `${adj.idempotencyKey}.cn` },
          ),
        );
        return this.creditNoteResult(note, 'service_credit');
      }
    }
    const tx = await this.call('balance credit', () =>
      this.stripe.customers.createBalanceTransaction(
        customer,
        { amount: -amount, currency: adj.currency.toLowerCase(), description: adj.description.slice(0, 350), metadata: this.metadata(adj) },
        { idempotencyKey: `${adj.idempotencyKey}.bal` },
      ),
    );
    return {
      providerRef: `stripe:${tx.id}`,
      money: [{ type: 'credit', purpose: 'service_credit', amount: fromStripeAmount(-tx.amount, tx.currency), destination: 'balance', ref: tx.id }],
    };
  }

  /**
   * A reversal: each item of money the original moved, taken back where it went. Money put on the
   * customer balance comes off it (a balance transaction of the opposite sign); money put on an
   * invoice (a credit note off what was due, a proration item) becomes an invoice item of the
   * opposite sign, billed on the customer's next invoice. Money paid out to the customer's card
   * cannot be taken back by Stripe: that is a final failure, before anything is written. Each item
   * has its own key (`<adjustment key>.<n>`) and is found again by metadata on a retry.
   */
  private async takeBack(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'void' }>): Promise<BillingResult> {
    const customer = adj.billingCustomerId!;
    const paidOut = e.money.find((m) => m.destination === 'payment');
    if (paidOut) {
      throw fail(
        `record ${e.original_record_id} refunded ${paidOut.amount.amount_minor} ${paidOut.amount.currency} minor units to the customer's payment method (${paidOut.ref ?? e.original_ref}); Stripe cannot take a refund back, so reverse it by hand`,
        false,
      );
    }
    const money: ConfirmedMoney[] = [];
    for (const [i, m] of e.money.entries()) {
      const key = `${adj.idempotencyKey}.${i}`;
      // Taking back a credit charges the customer; taking back a charge credits them.
      const amount = (m.type === 'charge' ? -1 : 1) * toStripeAmount(m.amount);
      const meta = { ...this.metadata(adj), idempotency_key: key, reverses: e.original_key };
      const description = `Reversal of ${e.original_key} (${adj.description})`;
      if (m.destination === 'balance') {
        const tx =
          (await this.balanceTransactionTagged(customer, key)) ??
          (await this.call('balance reversal', () =>
            this.stripe.customers.createBalanceTransaction(
              customer,
              { amount, currency: m.amount.currency.toLowerCase(), description: description.slice(0, 350), metadata: meta },
              { idempotencyKey: `${key}.bal` },
            ),
          ));
        money.push({ ...m, ref: tx.id, reverses: true });
      } else {
        const items = await this.call('invoice item lookup', () => this.stripe.invoiceItems.list({ customer, limit: 100 }));
        const ii =
          items.data.find((x) => x.metadata?.idempotency_key === key) ??
          (await this.call('invoice item reversal', () =>
            this.stripe.invoiceItems.create(
              { customer, amount, currency: m.amount.currency.toLowerCase(), description: description.slice(0, 500), metadata: meta },
              { idempotencyKey: `${key}.ii` },
            ),
          ));
        money.push({ ...m, ref: ii.id, reverses: true });
      }
    }
    return { providerRef: `stripe:${money.map((m) => m.ref).join(',')}`.slice(0, 300), money };
  }

  /**
   * The early-termination fee: an invoice item on an invoice of its own, finalized, so it is
   * billed even when the subscription has ended (a balance entry would wait for an invoice that
   * never comes). Three writes, each under its own key and each found again by metadata.
   */
  private async fee(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'fee' }>): Promise<BillingResult> {
    const customer = adj.billingCustomerId!;
    // Before this adapter invoiced fees, a termination's fee went onto the customer balance under
    // the record's `apply` key; a record caught half-applied across that upgrade must not pay twice.
    const earlier = await this.balanceTransactionTagged(customer, adj.idempotencyKey.replace(/\.fee$/, '.apply'));
    if (earlier && earlier.amount > 0) {
      return {
        providerRef: `stripe:${earlier.id}`,
        money: [{ type: 'charge', purpose: 'fee', amount: fromStripeAmount(earlier.amount, earlier.currency), destination: 'balance', ref: earlier.id }],
      };
    }
    let invoice = await this.invoiceTagged(customer, adj.idempotencyKey);
    invoice ??= await this.call('fee invoice', () =>
      this.stripe.invoices.create(
        {
          customer,
          currency: adj.currency.toLowerCase(),
          collection_method: 'charge_automatically',
          auto_advance: true,
          pending_invoice_items_behavior: 'exclude',
          description: adj.description.slice(0, 500),
          metadata: this.metadata(adj),
        },
        { idempotencyKey: `${adj.idempotencyKey}.inv` },
      ),
    );
    if (invoice.status === 'draft') {
      const hasItem = invoice.lines.data.some((l) => l.metadata?.idempotency_key === adj.idempotencyKey);
      if (!hasItem) {
        await this.call('fee invoice item', () =>
          this.stripe.invoiceItems.create(
            {
              customer,
              invoice: invoice!.id,
              amount: toStripeAmount(e.amount),
              currency: adj.currency.toLowerCase(),
              description: `Early-termination fee (${adj.description})`.slice(0, 500),
              metadata: this.metadata(adj),
            },
            { idempotencyKey: `${adj.idempotencyKey}.ii` },
          ),
        );
      }
      invoice = await this.call('fee invoice finalize', () =>
        this.stripe.invoices.finalizeInvoice(invoice!.id, { auto_advance: true }, { idempotencyKey: `${adj.idempotencyKey}.fin` }),
      );
    }
    if (invoice.status === 'void' || invoice.total <= 0)
      throw fail(`Stripe fee invoice ${invoice.id} of record ${adj.recordId} is ${invoice.status} with total ${invoice.total}; check it in Stripe`, false);
    return {
      providerRef: `stripe:${invoice.id}`,
      money: [{ type: 'charge', purpose: 'fee', amount: fromStripeAmount(invoice.total, invoice.currency), destination: 'invoice', ref: invoice.id }],
      outstanding: await this.outstanding(customer, adj.currency),
    };
  }

  /** A refund: a credit note with `refund_amount` against the newest paid invoice that can still refund it. */
  private async refund(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'refund' }>): Promise<BillingResult> {
    const customer = adj.billingCustomerId!;
    const amount = toStripeAmount(e.amount);
    let note = await this.creditNoteTagged(customer, adj.idempotencyKey);
    if (!note) {
      const paid = await this.call('invoice lookup', () => this.stripe.invoices.list({ customer, status: 'paid', limit: 20 }));
      const invoice = paid.data.find((i) => i.currency === adj.currency.toLowerCase() && i.amount_paid - i.post_payment_credit_notes_amount >= amount);
      if (!invoice) {
        throw fail(
          `Stripe customer ${customer} (account ${adj.accountId}) has no paid ${adj.currency} invoice that can refund ${amount} (record ${adj.recordId}); refund it by hand`,
          false,
        );
      }
      note = await this.call('refund credit note', () =>
        this.stripe.creditNotes.create(
          { invoice: invoice.id, amount, refund_amount: amount, memo: adj.description.slice(0, 500), metadata: this.metadata(adj) },
          { idempotencyKey: `${adj.idempotencyKey}.cn` },
        ),
      );
    }
    const result = this.creditNoteResult(note, 'termination_refund');
    if (!result.money?.some((m) => m.type === 'refund'))
      throw fail(`Stripe credit note ${note.id} of record ${adj.recordId} refunded nothing; check it in Stripe`, false);
    return { ...result, outstanding: await this.outstanding(customer, adj.currency) };
  }

  private async cancel(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'cancel' }>): Promise<BillingResult> {
    const sub = await this.planSubscription(adj, false);
    const withBalance = async (r: BillingResult): Promise<BillingResult> =>
      adj.kind === 'termination' ? { ...r, outstanding: await this.outstanding(adj.billingCustomerId!, adj.currency) } : r;
    // A customer with nothing live left to cancel is already where a cancellation would put it.
    if (!sub) return withBalance({ providerRef: 'stripe:none', subscription: { status: 'canceled', cancel_at: null } });
    const at = e.mode === 'at' && e.at ? unix(e.at) : null;
    if (e.mode === 'now' || (at !== null && at <= this.now() && !(sub.cancel_at && sub.cancel_at <= this.now() + 60))) {
      // Ends now, without prorating: the period already invoiced stands (a refund is its own effect).
      const gone = await this.call('subscription cancel', () => this.stripe.subscriptions.cancel(sub.id, { prorate: false, invoice_now: false }));
      return withBalance({ providerRef: `stripe:${gone.id}`, subscription: this.facts(gone) });
    }
    const params: Stripe.SubscriptionUpdateParams = {};
    const periodEnd = itemPeriodEnd(this.planItem(sub));
    if (e.mode === 'period_end') {
      // A cancellation already set for this period's end or earlier stands.
      if (!sub.cancel_at_period_end && !(sub.cancel_at && periodEnd !== null && sub.cancel_at <= periodEnd)) params.cancel_at_period_end = true;
    } else if (at !== null && !sub.cancel_at_period_end && !(sub.cancel_at && sub.cancel_at <= at)) {
      params.cancel_at = at;
    }
    const updated = await this.updateSubscription(adj, sub, params, 'apply');
    return withBalance({ providerRef: `stripe:${updated.id}`, subscription: this.facts(updated) });
  }

  /** Collection paused, invoices voided meanwhile (nothing billed while suspended), resuming at the review date. */
  private async pause(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'pause' }>): Promise<BillingResult> {
    const sub = (await this.planSubscription(adj, true))!;
    const resumesAt = e.resumes_at ? unix(e.resumes_at) : undefined;
    const current = sub.pause_collection;
    const same = current && current.behavior === 'void' && (current.resumes_at ?? undefined) === resumesAt;
    const params: Stripe.SubscriptionUpdateParams = same
      ? {}
      : { pause_collection: { behavior: 'void', ...(resumesAt !== undefined ? { resumes_at: resumesAt } : {}) } };
    const updated = await this.updateSubscription(adj, sub, params, 'apply');
    return { providerRef: `stripe:${updated.id}`, subscription: this.facts(updated) };
  }

  /**
   * Billing runs again: collection resumed and a set cancellation withdrawn; a subscription that
   * has already ended is replaced by a new one on the plan's mapped price.
   */
  private async resume(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'resume' }>): Promise<BillingResult> {
    const sub = await this.planSubscription(adj, false);
    let updated: Sub;
    if (sub) {
      const params: Stripe.SubscriptionUpdateParams = {};
      if (sub.pause_collection) params.pause_collection = '';
      if (sub.cancel_at_period_end) params.cancel_at_period_end = false;
      else if (sub.cancel_at) params.cancel_at = '';
      updated = await this.updateSubscription(adj, sub, params, 'apply');
    } else {
      const price = this.opts.priceIds[e.plan]?.[adj.currency];
      if (!price)
        throw fail(`plan ${e.plan} has no Stripe price in ${adj.currency}; add it to STRIPE_PRICE_MAP_FILE, then retry record ${adj.recordId}`, false);
      updated = await this.call('subscription create', () =>
        this.stripe.subscriptions.create(
          { customer: adj.billingCustomerId!, items: [{ price }], metadata: this.metadata(adj), description: adj.description.slice(0, 500) },
          { idempotencyKey: `${adj.idempotencyKey}.new` },
        ),
      );
    }
    const item = this.planItem(updated);
    const price =
      item?.price.unit_amount !== null && item?.price.unit_amount !== undefined ? fromStripeAmount(item.price.unit_amount, item.price.currency) : null;
    return { providerRef: `stripe:${updated.id}`, subscription: this.facts(updated), price };
  }

  /**
   * The source's subscription ends at its period end, and a credit it holds (a negative balance)
   * moves to the target customer: +X on the source, −X on the target, tagged with the key so a
   * retry finds what was moved even after the source balance reads 0.
   */
  private async merge(adj: BillingAdjustment, e: Extract<BillingEffect, { type: 'merge' }>): Promise<BillingResult> {
    const source = adj.billingCustomerId!;
    const sub = await this.planSubscription(adj, false);
    let facts: SubscriptionFacts = { status: 'canceled', cancel_at: null };
    const refs: string[] = [];
    if (sub) {
      const periodEnd = itemPeriodEnd(this.planItem(sub));
      const setInTime = !!sub.cancel_at && periodEnd !== null && sub.cancel_at <= periodEnd;
      const updated = await this.updateSubscription(adj, sub, sub.cancel_at_period_end || setInTime ? {} : { cancel_at_period_end: true }, 'apply');
      facts = this.facts(updated);
      refs.push(updated.id);
    }
    const money: ConfirmedMoney[] = [];
    let out = await this.balanceTransactionTagged(source, adj.idempotencyKey);
    if (!out) {
      const c = await this.call('customer lookup', () => this.stripe.customers.retrieve(source));
      const balance = 'deleted' in c && c.deleted ? 0 : (c as Stripe.Customer).balance;
      if (balance < 0) {
        if (!e.target_customer_id) {
          throw fail(
            `target account ${e.target_account_id} has no billing customer id, so the credit of customer ${source} cannot move to it; set it with "lifecycle-desk accounts import", then retry record ${adj.recordId}`,
            false,
          );
        }
        out = await this.call('merge balance out', () =>
          this.stripe.customers.createBalanceTransaction(
            source,
            {
              amount: -balance,
              currency: adj.currency.toLowerCase(),
              description: `Credit moved to ${e.target_account_id} (${adj.description})`.slice(0, 350),
              metadata: this.metadata(adj),
            },
            { idempotencyKey: `${adj.idempotencyKey}.src` },
          ),
        );
      }
    }
    if (out) {
      const target = e.target_customer_id!;
      const into =
        (await this.balanceTransactionTagged(target, adj.idempotencyKey)) ??
        (await this.call('merge balance in', () =>
          this.stripe.customers.createBalanceTransaction(
            target,
            {
              amount: -out!.amount,
              currency: out!.currency,
              description: `Credit moved from ${adj.accountId} (${adj.description})`.slice(0, 350),
              metadata: this.metadata(adj),
            },
            { idempotencyKey: `${adj.idempotencyKey}.dst` },
          ),
        ));
      refs.push(out.id, into.id);
      money.push({
        type: 'transfer',
        purpose: 'merge_balance',
        amount: fromStripeAmount(out.amount, out.currency),
        destination: 'balance',
        to_account_id: e.target_account_id,
        ref: into.id,
      });
    }
    return { providerRef: `stripe:${refs.join(',') || 'none'}`, money, subscription: facts };
  }

  // --- helpers ----------------------------------------------------------------------------------

  private metadata(adj: BillingAdjustment): Record<string, string> {
    return { record_id: adj.recordId, account_id: adj.accountId, kind: adj.kind, idempotency_key: adj.idempotencyKey };
  }

  /** Checks what every write needs before anything is sent; each failure names what to fix. */
  private checkAdjustment(adj: BillingAdjustment): void {
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
    const e = adj.effect;
    if (e.type === 'plan_change' && !this.opts.priceIds[e.to_plan]) {
      throw fail(`plan ${e.to_plan} has no Stripe price; add it to STRIPE_PRICE_MAP_FILE`, false);
    }
  }

  /** The subscription's plan item: the one whose price is a catalog plan (add-on items are never touched). */
  private planItem(sub: Sub): Item | undefined {
    return sub.items.data.find((i) => this.mappedPrices.has(i.price.id));
  }

  /** What Stripe reported about a subscription, as the book keeps it. */
  private facts(sub: Sub): SubscriptionFacts {
    const item = this.planItem(sub);
    const live = LIVE.has(sub.status);
    const cancelAt = sub.cancel_at_period_end ? (itemPeriodEnd(item) ?? sub.cancel_at ?? null) : (sub.cancel_at ?? null);
    const pause = sub.pause_collection;
    return {
      plan: item ? this.planOf(item.price.id) : null,
      status: !live ? 'canceled' : pause ? 'paused' : 'active',
      cancel_at: live ? isoOf(cancelAt) : null,
      paused: live && !!pause,
      pause_resumes_at: live && pause ? isoOf(pause.resumes_at) : null,
    };
  }

  /** The item change that puts the subscription's plan item on `plan`'s price in its currency, or null when it already is. */
  private planItemMove(sub: Sub, plan: string): { id: string; price: string } | null {
    const currency = sub.currency.toUpperCase();
    const price = this.opts.priceIds[plan]?.[currency];
    if (!price)
      throw fail(`plan ${plan} has no Stripe price in ${currency} (subscription ${sub.id} bills in ${currency}); add it to STRIPE_PRICE_MAP_FILE`, false);
    const item = this.planItem(sub);
    if (!item) throw fail(`Stripe subscription ${sub.id} has no item on a catalog plan's price to move to plan ${plan}`, false);
    return item.price.id === price ? null : { id: item.id, price };
  }

  /**
   * The customer's one live subscription on a catalog plan's price; add-on subscriptions beside it
   * are ignored. A plan change or a pause needs one; a cancellation accepts none.
   */
  private async planSubscription(adj: BillingAdjustment, required: boolean): Promise<Sub | null> {
    const customer = adj.billingCustomerId!;
    const list = await this.call('subscription lookup', () => this.stripe.subscriptions.list({ customer, limit: 100 }));
    const live = list.data.filter((s) => LIVE.has(s.status));
    const onPlan = live.filter((s) => this.planItem(s));
    if (onPlan.length === 1) return onPlan[0]!;
    if (onPlan.length === 0) {
      if (!required) return null;
      throw fail(
        `Stripe customer ${customer} (account ${adj.accountId}) has no live subscription on a plan from STRIPE_PRICE_MAP_FILE${live.length ? ` (only ${live.map((s) => s.id).join(', ')}, which bill other prices)` : ''}; create one in Stripe or check billing_customer_id`,
        false,
      );
    }
    throw fail(
      `Stripe customer ${customer} (account ${adj.accountId}) has ${onPlan.length} live subscriptions on plans from STRIPE_PRICE_MAP_FILE (${onPlan.map((s) => s.id).join(', ')}); leave one plan subscription, then retry the record`,
      false,
    );
  }

  /** Sends a subscription update unless there is nothing to change (an earlier attempt, or someone in the Dashboard, already made it). */
  private async updateSubscription(adj: BillingAdjustment, sub: Sub, params: Stripe.SubscriptionUpdateParams, what: string): Promise<Sub> {
    if (Object.keys(params).length === 0) return sub;
    if (what !== 'apply' && params.proration_behavior === undefined) params.proration_behavior = 'none';
    return this.call(`subscription ${what}`, () => this.stripe.subscriptions.update(sub.id, params, { idempotencyKey: `${adj.idempotencyKey}.sub` }));
  }

  /** The finalized invoice whose subscription line overlaps [start, end) most (ties: the newer). */
  private async invoiceCovering(customer: string, start: number, end: number): Promise<Stripe.Invoice | null> {
    const list = await this.call('invoice lookup', () => this.stripe.invoices.list({ customer, limit: 100 }));
    let best: { invoice: Stripe.Invoice; overlap: number } | null = null;
    for (const invoice of list.data) {
      if (invoice.status !== 'open' && invoice.status !== 'paid') continue;
      for (const line of invoice.lines.data) {
        if (line.parent?.type !== 'subscription_item_details' || line.parent.subscription_item_details?.proration) continue;
        const overlap = Math.min(end, line.period.end) - Math.max(start, line.period.start);
        if (overlap > 0 && (!best || overlap > best.overlap || (overlap === best.overlap && invoice.created > best.invoice.created)))
          best = { invoice, overlap };
      }
    }
    return best?.invoice ?? null;
  }

  private async invoiceTagged(customer: string, key: string): Promise<Stripe.Invoice | null> {
    const list = await this.call('invoice lookup', () => this.stripe.invoices.list({ customer, limit: 100 }));
    return list.data.find((i) => i.metadata?.idempotency_key === key) ?? null;
  }

  private async creditNoteTagged(customer: string, key: string): Promise<Stripe.CreditNote | null> {
    const list = await this.call('credit note lookup', () => this.stripe.creditNotes.list({ customer, limit: 100 }));
    return list.data.find((n) => n.metadata?.idempotency_key === key) ?? null;
  }

  private async balanceTransactionTagged(customer: string, key: string): Promise<Stripe.CustomerBalanceTransaction | null> {
    // Stripe remembers idempotency keys for 24 hours; a record retried later (say from the CLI
    // after an outage) must still find what its first attempt posted. Newest first, one page.
    const recent = await this.call('balance lookup', () => this.stripe.customers.listBalanceTransactions(customer, { limit: 100 }));
    return recent.data.find((t) => t.metadata?.idempotency_key === key) ?? null;
  }

  /** What a credit note moved, split as Stripe reports it: off the invoice, onto the balance, refunded. */
  private creditNoteResult(note: Stripe.CreditNote, purpose: ConfirmedMoney['purpose']): BillingResult {
    const cur = note.currency;
    const refunded = note.refunds.reduce((s, r) => s + r.amount_refunded, 0);
    const toBalance = note.post_payment_amount - refunded - (note.out_of_band_amount ?? 0);
    const money: ConfirmedMoney[] = [];
    if (note.pre_payment_amount > 0)
      money.push({ type: 'credit', purpose, amount: fromStripeAmount(note.pre_payment_amount, cur), destination: 'invoice', ref: note.id });
    if (toBalance > 0) money.push({ type: 'credit', purpose, amount: fromStripeAmount(toBalance, cur), destination: 'balance', ref: note.id });
    if (refunded > 0) {
      money.push(
        purpose === 'termination_refund'
          ? { type: 'refund', purpose, amount: fromStripeAmount(refunded, cur), destination: 'payment', ref: note.id }
          : { type: 'credit', purpose, amount: fromStripeAmount(refunded, cur), destination: 'payment', ref: note.id },
      );
    }
    return { providerRef: `stripe:${note.id}`, money };
  }

  /** What the customer owes at Stripe: open invoices plus the customer balance (negative: credit). */
  private async outstanding(customer: string, currency: string): Promise<Money> {
    const [open, c] = await Promise.all([
      this.call('invoice lookup', () => this.stripe.invoices.list({ customer, status: 'open', limit: 100 })),
      this.call('customer lookup', () => this.stripe.customers.retrieve(customer)),
    ]);
    const balance = 'deleted' in c && c.deleted ? 0 : (c as Stripe.Customer).balance;
    const due = open.data.filter((i) => i.currency === currency.toLowerCase()).reduce((s, i) => s + i.amount_remaining, 0);
    return fromStripeAmount(due + balance, currency);
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
        ? '— give the key write access to Customers, Subscriptions, Invoices and Credit notes'
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
  // A rate limit is the queue's to wait out (worker.rateLimit), using no attempt: never a sleep here.
  if (err instanceof E.StripeRateLimitError || status === 429) {
    return new RateLimitedError('stripe', (retryAfter ? retryAfterMs(retryAfter, new Date()) : null) || 1000, parts.filter(Boolean).join(' '), err);
  }
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
