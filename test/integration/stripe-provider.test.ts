import { randomUUID } from 'node:crypto';
import { RateLimitedError } from '../../src/records/errors';
import Stripe from 'stripe';
import { StripeBillingProvider, fromStripeAmount, toStripeAmount } from '../../src/integrations/billing/stripe.provider';
import type { BillingEffect } from '../../src/records/billing';
import { AppError } from '../../src/records/errors';
import { money } from '../../src/records/money';
import type { BillingAdjustment } from '../../src/records/ports';
import { FakeStripe } from '../../devtools/stripe.standin';

let stripe: FakeStripe;
let provider: StripeBillingProvider;

const PRICE_IDS = {
  starter: { EUR: 'price_starter_eur', JPY: 'price_starter_jpy' },
  business: { EUR: 'price_business_eur', JPY: 'price_business_jpy' },
  ghost: { EUR: 'price_does_not_exist' },
};

const makeProvider = (over: Partial<ConstructorParameters<typeof StripeBillingProvider>[0]> = {}) =>
  new StripeBillingProvider({ apiKey: stripe.apiKey, ...stripe.sdkOptions, timeoutMs: 2000, priceIds: PRICE_IDS, ...over });

beforeAll(async () => {
  stripe = await FakeStripe.start();
  stripe.addPrice({ id: 'price_starter_eur', currency: 'eur', unit_amount: 3000, interval: 'month' });
  stripe.addPrice({ id: 'price_business_eur', currency: 'eur', unit_amount: 9000, interval: 'month' });
  stripe.addPrice({ id: 'price_starter_jpy', currency: 'jpy', unit_amount: 4000, interval: 'month' });
  stripe.addPrice({ id: 'price_business_jpy', currency: 'jpy', unit_amount: 12000, interval: 'month' });
  stripe.addPrice({ id: 'price_addon_eur', currency: 'eur', unit_amount: 500, interval: 'month' });
  provider = makeProvider();
});
afterAll(async () => {
  await stripe.close();
});
beforeEach(() => stripe.reset());

const now = () => Date.now();
const iso = (ms: number) => new Date(ms).toISOString();
const creditEffect = (amount_minor: number, currency = 'JPY', days: [number, number] = [-60, -59]): BillingEffect => ({
  type: 'credit',
  amount: money(amount_minor, currency),
  period_start: iso(now() + days[0] * 86_400_000),
  period_end: iso(now() + days[1] * 86_400_000),
  paid_invoice: 'credit',
});
const planEffect = (to: string, prorate: boolean, from = 'starter'): Extract<BillingEffect, { type: 'plan_change' }> => ({
  type: 'plan_change',
  to_plan: to,
  from_plan: from,
  prorate,
  at: iso(now()),
  price: null,
  proration: null,
});

/** A fresh adjustment for a fresh customer, so tests share no Stripe state. */
function buildAdjustment(over: Partial<BillingAdjustment> = {}): BillingAdjustment {
  const recordId = randomUUID();
  return {
    idempotencyKey: `billing.${recordId}.apply`,
    recordId,
    accountId: 'acc_stripe',
    billingCustomerId: stripe.addCustomer().id,
    kind: 'service_credit',
    subtype: 'outage',
    currency: over.effect && 'amount' in over.effect ? over.effect.amount.currency : 'JPY',
    effect: creditEffect(1500),
    phase: 'apply',
    effectiveAt: null,
    termEnd: iso(now() + 15 * 86_400_000),
    description: `service_credit outage (record ${recordId})`,
    ...over,
  };
}

/** A customer with a live subscription on `price`. */
function subscribed(price: string, opts: Parameters<FakeStripe['addSubscription']>[0] extends infer T ? Partial<T> : never = {}) {
  const customer = stripe.addCustomer();
  return { customer: customer.id, sub: stripe.addSubscription({ customer: customer.id, price, ...opts }) };
}

const failure = async (p: Promise<unknown>): Promise<AppError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
};

const effectsOf = (key: string) => [...stripe.effects].filter(([k]) => k.startsWith(`${key}.`)).reduce((s, [, n]) => s + n, 0);

describe('mapping effects to Stripe', () => {
  it("an upgrade moves the plan item to the mapped price with Stripe prorating at the effective instant, and reports Stripe's own prorations", async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    const effect = planEffect('business', true);
    const adj = buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, currency: 'EUR', effect });

    const result = await provider.applyAdjustment(adj);

    expect(sub.items[0]!.price).toBe('price_business_eur');
    const [write] = stripe.writes().filter((w) => w.path.startsWith('/v1/subscriptions'));
    expect(write).toMatchObject({
      path: `/v1/subscriptions/${sub.id}`,
      idempotencyKey: `${adj.idempotencyKey}.sub`,
      params: {
        items: [{ id: sub.items[0]!.id, price: 'price_business_eur' }],
        proration_behavior: 'create_prorations',
        proration_date: String(Math.floor(Date.parse(effect.type === 'plan_change' ? effect.at : '') / 1000)),
      },
      status: 200,
    });
    expect(write!.stripeVersion).toBe(Stripe.API_VERSION);
    const prorations = stripe.prorationsOf(sub.id);
    expect(prorations).toHaveLength(2);
    expect(result).toMatchObject({
      providerRef: `stripe:${sub.id}`,
      subscription: { plan: 'business', status: 'active' },
      price: { amount_minor: 9000, currency: 'EUR' },
      money: [
        { type: 'credit', purpose: 'proration', amount: { amount_minor: -prorations.find((p) => p.amount < 0)!.amount, currency: 'EUR' } },
        { type: 'charge', purpose: 'proration', amount: { amount_minor: prorations.find((p) => p.amount > 0)!.amount, currency: 'EUR' } },
      ],
    });
    expect(stripe.balanceTransactionsOf(customer)).toHaveLength(0);
  });

  it('a plan change without proration moves the price and creates no proration', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    await provider.applyAdjustment(
      buildAdjustment({
        kind: 'downgrade',
        subtype: 'subscription',
        billingCustomerId: customer,
        currency: 'EUR',
        effect: planEffect('starter', false, 'business'),
      }),
    );
    expect(sub.items[0]!.price).toBe('price_starter_eur');
    expect(stripe.writes()[0]!.params).toMatchObject({ proration_behavior: 'none' });
    expect(stripe.writes()[0]!.params).not.toHaveProperty('proration_date');
    expect(stripe.prorationsOf(sub.id)).toHaveLength(0);
  });

  it('picks the price for the subscription currency (JPY)', async () => {
    const { customer, sub } = subscribed('price_starter_jpy');
    await provider.applyAdjustment(
      buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, effect: planEffect('business', true) }),
    );
    expect(sub.items[0]!.price).toBe('price_business_jpy');
  });

  it('acts on the subscription whose price is a catalog plan, never an add-on beside it', async () => {
    const customer = stripe.addCustomer();
    const addon = stripe.addSubscription({ customer: customer.id, price: 'price_addon_eur' });
    const plan = stripe.addSubscription({ customer: customer.id, price: 'price_starter_eur' });
    const adj = buildAdjustment({
      kind: 'status_change',
      subtype: 'suspension',
      billingCustomerId: customer.id,
      currency: 'EUR',
      effect: { type: 'pause', resumes_at: iso(now() + 5 * 86_400_000) },
    });
    await provider.applyAdjustment(adj);
    expect(plan.pause_collection).not.toBeNull();
    expect(addon.pause_collection).toBeNull();

    // The only live subscription bills an add-on: a plan change refuses rather than move it.
    const lone = stripe.addCustomer();
    const onlyAddon = stripe.addSubscription({ customer: lone.id, price: 'price_addon_eur' });
    const err = await failure(
      provider.applyAdjustment(
        buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: lone.id, currency: 'EUR', effect: planEffect('business', true) }),
      ),
    );
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/no live subscription on a plan from STRIPE_PRICE_MAP_FILE \(only sub_\w+, which bill other prices\)/);
    expect(onlyAddon.items[0]!.price).toBe('price_addon_eur');

    // An add-on item on the plan subscription itself is left alone too.
    const mixed = stripe.addCustomer();
    const both = stripe.addSubscription({ customer: mixed.id, price: 'price_starter_eur', extraPrices: ['price_addon_eur'] });
    await provider.applyAdjustment(
      buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: mixed.id, currency: 'EUR', effect: planEffect('business', true) }),
    );
    expect(both.items.map((i) => i.price)).toEqual(['price_business_eur', 'price_addon_eur']);
  });

  it('a service credit with no invoice for its period is a negative balance transaction of the same number in JPY', async () => {
    const adj = buildAdjustment({ effect: creditEffect(1500, 'JPY') });
    const result = await provider.applyAdjustment(adj);
    const [tx] = stripe.balanceTransactionsOf(adj.billingCustomerId!);
    expect(result).toEqual({
      providerRef: `stripe:${tx!.id}`,
      money: [{ type: 'credit', purpose: 'service_credit', amount: money(1500, 'JPY'), destination: 'balance', ref: tx!.id }],
    });
    expect(tx).toMatchObject({
      amount: -1500,
      currency: 'jpy',
      type: 'adjustment',
      metadata: { record_id: adj.recordId, account_id: 'acc_stripe', kind: 'service_credit', idempotency_key: adj.idempotencyKey },
    });
    expect(stripe.writes()[0]!.idempotencyKey).toBe(`${adj.idempotencyKey}.bal`);
  });

  it('a service credit for a paid period refunds it when the catalog says so', async () => {
    const { customer } = subscribed('price_business_eur');
    const effect = { ...creditEffect(400, 'EUR', [-3, -2]), paid_invoice: 'refund' as const };
    const result = await provider.applyAdjustment(buildAdjustment({ billingCustomerId: customer, currency: 'EUR', effect }));
    const [note] = stripe.creditNotesOf(customer);
    expect(note).toMatchObject({ amount: 400, post_payment_amount: 400, refunds: [{ amount_refunded: 400 }] });
    expect(stripe.customers.get(customer)!.balance).toBe(0);
    expect(result.money).toEqual([{ type: 'credit', purpose: 'service_credit', amount: money(400, 'EUR'), destination: 'payment', ref: note!.id }]);
  });

  it('a credit larger than what is left due on an open invoice takes the rest onto the balance', async () => {
    const { customer } = subscribed('price_business_eur', { invoice: 'open' });
    const invoice = stripe.invoicesOf(customer)[0]!;
    stripe.payInvoice(invoice.id);
    invoice.status = 'open';
    invoice.amount_remaining = 300;
    invoice.amount_paid -= 300;
    await provider.applyAdjustment(buildAdjustment({ billingCustomerId: customer, currency: 'EUR', effect: creditEffect(500, 'EUR', [-3, -2]) }));
    expect(stripe.creditNotesOf(customer)).toMatchObject([{ amount: 500, pre_payment_amount: 300, post_payment_amount: 200 }]);
    expect(stripe.writes().find((w) => w.path === '/v1/credit_notes')!.params).toMatchObject({ amount: '500', credit_amount: '200' });
    expect(stripe.customers.get(customer)!.balance).toBe(-200);
  });

  it('a reactivation withdraws a set cancellation and clears a pause; with nothing live it starts a new plan subscription', async () => {
    const resume = { type: 'resume' as const, plan: 'starter', price: money(3000, 'EUR') };
    const { customer, sub } = subscribed('price_starter_eur');
    sub.cancel_at_period_end = true;
    sub.pause_collection = { behavior: 'void', resumes_at: null };
    const result = await provider.applyAdjustment(
      buildAdjustment({ kind: 'status_change', subtype: 'reactivation', billingCustomerId: customer, currency: 'EUR', effect: resume }),
    );
    expect(stripe.writes()[0]!.params).toEqual({ pause_collection: '', cancel_at_period_end: 'false' });
    expect(sub).toMatchObject({ cancel_at_period_end: false, pause_collection: null, status: 'active' });
    expect(result).toMatchObject({ subscription: { status: 'active', cancel_at: null, paused: false }, price: money(3000, 'EUR') });

    const dated = subscribed('price_starter_eur');
    dated.sub.cancel_at = dated.sub.current_period_end - 86_400;
    await provider.applyAdjustment(
      buildAdjustment({ kind: 'status_change', subtype: 'reactivation', billingCustomerId: dated.customer, currency: 'EUR', effect: resume }),
    );
    expect(dated.sub.cancel_at).toBeNull();

    const ended = subscribed('price_starter_eur');
    ended.sub.status = 'canceled';
    const adj = buildAdjustment({ kind: 'status_change', subtype: 'reactivation', billingCustomerId: ended.customer, currency: 'EUR', effect: resume });
    await provider.applyAdjustment(adj);
    await provider.applyAdjustment(adj);
    const live = stripe.subscriptionsOf(ended.customer).filter((x) => x.status === 'active');
    expect(live).toMatchObject([{ items: [{ price: 'price_starter_eur' }], metadata: { idempotency_key: adj.idempotencyKey } }]);
  });

  it('adjustments for a customer with nothing live to cancel confirm without writing', async () => {
    const closure = buildAdjustment({ kind: 'status_change', subtype: 'closure', currency: 'EUR', effect: { type: 'cancel', mode: 'period_end', at: null } });
    expect(await provider.applyAdjustment(closure)).toMatchObject({ providerRef: 'stripe:none', subscription: { status: 'canceled' } });
    expect(stripe.writes()).toHaveLength(0);
  });

  it("amounts in and out of Stripe's units", () => {
    expect(toStripeAmount(money(500, 'JPY'))).toBe(500);
    expect(toStripeAmount(money(1234, 'EUR'))).toBe(1234);
    expect(toStripeAmount(money(5, 'ISK'))).toBe(500);
    expect(toStripeAmount(money(12_340, 'KWD'))).toBe(12_340);
    expect(fromStripeAmount(500, 'isk')).toEqual(money(5, 'ISK'));
    expect(fromStripeAmount(1234, 'eur')).toEqual(money(1234, 'EUR'));
  });
});

const eurCredit = (amount: number) => ({ currency: 'EUR', effect: creditEffect(amount, 'EUR') });

describe('exactly once under failures', () => {
  it('a retry after a 500 uses the same key and has exactly one effect', async () => {
    const adj = buildAdjustment(eurCredit(2500));
    stripe.inject({ type: 'api_error' }, { method: 'POST' });

    expect(await failure(provider.applyAdjustment(adj))).toMatchObject({
      code: 'provider_failed',
      retryable: true,
      options: { details: { status: 500, type: 'api_error' } },
    });
    expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toHaveLength(0);

    await provider.applyAdjustment(adj);
    await provider.applyAdjustment(adj);
    expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toHaveLength(1);
    expect(stripe.customers.get(adj.billingCustomerId!)!.balance).toBe(-2500);
    expect(stripe.writes().map((w) => w.idempotencyKey)).toEqual([`${adj.idempotencyKey}.bal`, `${adj.idempotencyKey}.bal`]);
    expect(stripe.duplicatedEffects()).toEqual([]);
  });

  it('a fee whose finalization answer was lost: the retry finds the invoice and invoices the fee once', async () => {
    const { customer } = subscribed('price_business_eur');
    const adj = buildAdjustment({
      kind: 'termination',
      subtype: 'customer_initiated',
      billingCustomerId: customer,
      currency: 'EUR',
      idempotencyKey: `billing.${randomUUID()}.fee`,
      effect: { type: 'fee', amount: money(9000, 'EUR') },
    });
    stripe.inject({ type: 'lost' }, { method: 'POST', path: /finalize$/ });

    expect(await failure(provider.applyAdjustment(adj))).toMatchObject({ retryable: true });
    const result = await provider.applyAdjustment(adj);
    const fees = stripe.invoicesOf(customer).filter((i) => i.metadata.idempotency_key === adj.idempotencyKey);
    expect(fees).toMatchObject([{ status: 'open', total: 9000, lines: [{ amount: 9000 }] }]);
    expect(result.money).toEqual([{ type: 'charge', purpose: 'fee', amount: money(9000, 'EUR'), destination: 'invoice', ref: fees[0]!.id }]);
    expect(stripe.duplicatedEffects()).toEqual([]);
  });

  it('a fee an earlier version already put on the customer balance (record caught mid-apply by the upgrade) is not invoiced again', async () => {
    const { customer } = subscribed('price_business_eur');
    const recordId = randomUUID();
    await fetch(`http://127.0.0.1:${stripe.port}/v1/customers/${customer}/balance_transactions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stripe.apiKey}`, 'stripe-version': Stripe.API_VERSION, 'content-type': 'application/x-www-form-urlencoded' },
      body: `amount=9000&currency=eur&metadata[idempotency_key]=billing.${recordId}.apply`,
    });
    const adj = buildAdjustment({
      recordId,
      kind: 'termination',
      subtype: 'customer_initiated',
      billingCustomerId: customer,
      currency: 'EUR',
      idempotencyKey: `billing.${recordId}.fee`,
      effect: { type: 'fee', amount: money(9000, 'EUR') },
    });
    const result = await provider.applyAdjustment(adj);
    expect(stripe.invoicesOf(customer).filter((i) => !i.subscription)).toEqual([]);
    expect(result.money).toMatchObject([{ type: 'charge', purpose: 'fee', amount: money(9000, 'EUR'), destination: 'balance' }]);
  });

  it('a refund whose answer was lost: the retry finds the credit note and refunds once', async () => {
    const { customer } = subscribed('price_business_eur');
    const adj = buildAdjustment({
      kind: 'termination',
      subtype: 'customer_initiated',
      billingCustomerId: customer,
      currency: 'EUR',
      idempotencyKey: `billing.${randomUUID()}.refund`,
      effect: { type: 'refund', amount: money(700, 'EUR') },
    });
    stripe.inject({ type: 'lost' }, { method: 'POST', path: /credit_notes/ });
    expect(await failure(provider.applyAdjustment(adj))).toMatchObject({ retryable: true });
    stripe.expireIdempotencyKeys(); // even a day later
    const result = await provider.applyAdjustment(adj);
    expect(stripe.creditNotesOf(customer)).toHaveLength(1);
    expect(stripe.refunds.filter((r) => r.credit_note === stripe.creditNotesOf(customer)[0]!.id)).toHaveLength(1);
    expect(result.money).toMatchObject([{ type: 'refund', amount: money(700, 'EUR'), destination: 'payment' }]);
  });

  it('a timed-out call is retryable, and its retry does not apply it again', async () => {
    const adj = buildAdjustment(eurCredit(700));
    stripe.inject({ type: 'slow', delayMs: 1500 }, { method: 'POST' });
    const impatient = makeProvider({ timeoutMs: 300 });

    const err = await failure(impatient.applyAdjustment(adj));
    expect(err).toMatchObject({ retryable: true, options: { details: { status: null, type: 'connection_error' } } });
    expect(err.message).toMatch(/timeout/);

    await impatient.applyAdjustment(adj);
    expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toHaveLength(1);
    expect(stripe.duplicatedEffects()).toEqual([]);
  });

  it('two attempts racing with one key: Stripe executes one and replays it to the other', async () => {
    const adj = buildAdjustment(eurCredit(300));
    // The lookups answer late, so both attempts go on to write.
    stripe.inject({ type: 'slow', delayMs: 100 }, { method: 'GET', times: 6 });

    const [a, b] = await Promise.all([provider.applyAdjustment(adj), provider.applyAdjustment(adj)]);

    expect(a).toEqual(b);
    expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toHaveLength(1);
    expect(
      stripe
        .writes()
        .map((w) => w.replayed)
        .sort(),
    ).toEqual([false, true]);
    expect(effectsOf(adj.idempotencyKey)).toBe(1);
  });

  it("after Stripe's 24-hour key window a late retry still finds what was applied", async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    const upgrade = buildAdjustment({
      kind: 'upgrade',
      subtype: 'subscription',
      billingCustomerId: customer,
      currency: 'EUR',
      effect: planEffect('business', true),
    });
    const credit = buildAdjustment({ billingCustomerId: customer, ...eurCredit(400) });
    await provider.applyAdjustment(upgrade);
    const first = await provider.applyAdjustment(credit);

    stripe.expireIdempotencyKeys();
    stripe.reset();
    expect(await provider.applyAdjustment(upgrade)).toMatchObject({ providerRef: `stripe:${sub.id}` });
    expect(await provider.applyAdjustment(credit)).toEqual(first);

    expect(stripe.writes()).toHaveLength(0);
    expect(stripe.prorationsOf(sub.id)).toHaveLength(2);
    expect(stripe.balanceTransactionsOf(customer)).toHaveLength(1);
  });

  it('many adjustments, each retried after injected failures: 0 lost, 0 duplicated', async () => {
    const adjs = Array.from({ length: 12 }, (_, i) =>
      buildAdjustment({ currency: i % 2 ? 'EUR' : 'JPY', effect: creditEffect(100 + i, i % 2 ? 'EUR' : 'JPY') }),
    );
    stripe.inject({ type: 'api_error' }, { times: 3, method: 'POST' });
    stripe.inject({ type: 'lost' }, { times: 3, method: 'POST' });
    stripe.inject({ type: 'rate_limit' }, { times: 3 });
    for (const adj of adjs) {
      for (let attempt = 1; ; attempt++) {
        try {
          await provider.applyAdjustment(adj);
          break;
        } catch (e) {
          expect((e as AppError).retryable).toBe(true);
          expect(attempt).toBeLessThan(10);
        }
      }
    }
    adjs.forEach((adj, i) => expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toMatchObject([{ amount: -(100 + i) }]));
    expect(stripe.duplicatedEffects()).toEqual([]);
  });
});

describe('failures the job system can and cannot retry', () => {
  it("429 is the queue's to wait out: a RateLimitedError carrying Retry-After, never a sleep", async () => {
    stripe.inject({ type: 'rate_limit', retryAfterSeconds: 2 });
    const err = await failure(provider.applyAdjustment(buildAdjustment()));
    expect(err).toBeInstanceOf(RateLimitedError);
    expect(err).toMatchObject({ system: 'stripe', retryAfterMs: 2000, retryable: true });
    expect(err.message).toMatch(/429 rate_limit_error\/rate_limit.*retry after 2 s/);
  });

  it('400 invalid_request_error is final', async () => {
    stripe.inject({ type: 'invalid_request', message: 'This customer has no attached payment source', param: 'customer' }, { method: 'POST' });
    const err = await failure(provider.applyAdjustment(buildAdjustment()));
    expect(err).toMatchObject({ retryable: false, options: { details: { status: 400, type: 'invalid_request_error' } } });
    expect(err.message).toMatch(/400 invalid_request_error on customer/);
  });

  it('the same key with other parameters is an idempotency_error, and final', async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    const adj = buildAdjustment({
      kind: 'upgrade',
      subtype: 'subscription',
      billingCustomerId: customer,
      currency: 'EUR',
      effect: planEffect('business', false),
    });
    await provider.applyAdjustment(adj);
    sub.items[0]!.price = 'price_starter_eur';
    // A bug that reused the key for another change: Stripe refuses rather than guess.
    const err = await failure(provider.applyAdjustment({ ...adj, effect: planEffect('business', true) }));
    expect(err).toMatchObject({ retryable: false, options: { details: { status: 400, type: 'idempotency_error' } } });
    expect(sub.items[0]!.price).toBe('price_starter_eur');
  });

  it('a refund no paid invoice can take is final and names what to do', async () => {
    const { customer } = subscribed('price_starter_eur', { invoice: 'open' });
    const err = await failure(
      provider.applyAdjustment(
        buildAdjustment({
          kind: 'termination',
          subtype: 'other',
          billingCustomerId: customer,
          currency: 'EUR',
          effect: { type: 'refund', amount: money(500, 'EUR') },
        }),
      ),
    );
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/no paid EUR invoice that can refund 500.*refund it by hand/);
    expect(stripe.creditNotesOf(customer)).toEqual([]);
  });

  it('a missing billing customer is final, names the account and says how to fix it, without calling Stripe', async () => {
    const err = await failure(provider.applyAdjustment(buildAdjustment({ billingCustomerId: null })));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/account acc_stripe has no billing customer id/);
    expect(err.message).toMatch(/accounts import/);
    expect(stripe.requests).toHaveLength(0);
  });

  it('an unknown Stripe customer, a plan without a price and a customer without a subscription are final', async () => {
    const ghostCustomer = await failure(provider.applyAdjustment(buildAdjustment({ billingCustomerId: 'cus_nobody' })));
    expect(ghostCustomer).toMatchObject({ retryable: false, options: { details: { status: 404, code: 'resource_missing' } } });
    expect(ghostCustomer.message).toMatch(/No such customer: 'cus_nobody'/);

    const unmapped = await failure(
      provider.applyAdjustment(buildAdjustment({ kind: 'upgrade', subtype: 'subscription', effect: planEffect('enterprise', true) })),
    );
    expect(unmapped).toMatchObject({ retryable: false });
    expect(unmapped.message).toMatch(/plan enterprise has no Stripe price; add it to STRIPE_PRICE_MAP_FILE/);

    const { customer } = subscribed('price_starter_jpy');
    const noEur = await failure(
      provider.applyAdjustment(buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, effect: planEffect('ghost', true) })),
    );
    expect(noEur.message).toMatch(/plan ghost has no Stripe price in JPY/);

    const { customer: c2 } = subscribed('price_starter_eur');
    const badPrice = await failure(
      provider.applyAdjustment(
        buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: c2, currency: 'EUR', effect: planEffect('ghost', true) }),
      ),
    );
    expect(badPrice).toMatchObject({ retryable: false, options: { details: { status: 404 } } });
    expect(badPrice.message).toMatch(/No such price: 'price_does_not_exist'/);

    const noSub = await failure(
      provider.applyAdjustment(buildAdjustment({ kind: 'downgrade', subtype: 'subscription', effect: planEffect('starter', false, 'business') })),
    );
    expect(noSub).toMatchObject({ retryable: false });
    expect(noSub.message).toMatch(/has no live subscription on a plan/);
  });

  it('a wrong API key is final and never appears in the message', async () => {
    const wrongKey = 'sk_test_wrongwrongwrong1234';
    const err = await failure(makeProvider({ apiKey: wrongKey }).applyAdjustment(buildAdjustment()));
    expect(err.retryable).toBe(false);
    expect(err.options.details).toMatchObject({ status: 401 });
    expect(err.message).not.toContain(wrongKey);
    expect(err.message).not.toMatch(/sk_test_\w{4}/);
  });

  it('an unreachable Stripe is retryable', async () => {
    const closed = await FakeStripe.start();
    const port = closed.port;
    await closed.close();
    const err = await failure(makeProvider({ port }).applyAdjustment(buildAdjustment()));
    expect(err).toMatchObject({ retryable: true, options: { details: { type: 'connection_error' } } });
  });
});

describe('the stand-in refuses what Stripe refuses', () => {
  const raw = (path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}) =>
    fetch(`http://127.0.0.1:${stripe.port}${path}`, {
      method: init.method ?? 'POST',
      headers: {
        authorization: `Bearer ${stripe.apiKey}`,
        'stripe-version': Stripe.API_VERSION,
        'content-type': 'application/x-www-form-urlencoded',
        ...init.headers,
      },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
  const errorOf = async (res: Response) => ((await res.json()) as { error: Record<string, unknown> }).error;

  it('checks the key, the version header, the encoding and the parameters', async () => {
    const c = stripe.addCustomer().id;
    const path = `/v1/customers/${c}/balance_transactions`;
    expect((await raw(path, { body: 'amount=-5&currency=eur', headers: { authorization: 'Bearer sk_test_nope' } })).status).toBe(401);
    expect((await raw(path, { body: 'amount=-5&currency=eur', headers: { 'stripe-version': '' } })).status).toBe(400);
    expect((await raw(path, { body: '{"amount":-5,"currency":"eur"}', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect(await errorOf(await raw(path, { body: 'amount=-5&currency=eur&amout=1' }))).toMatchObject({ type: 'invalid_request_error', param: 'amout' });
    expect(await errorOf(await raw(path, { body: 'currency=eur' }))).toMatchObject({ message: 'Missing required param: amount.' });
    expect(await errorOf(await raw(path, { body: 'amount=-5&currency=EUR' }))).toMatchObject({ param: 'currency' });
    expect(await errorOf(await raw(path, { body: 'amount=-5&currency=eur&metadata[a]=1&metadata[b][c]=2' }))).toMatchObject({ param: 'metadata[b]' });
    expect(stripe.balanceTransactionsOf(c)).toHaveLength(0);
  });

  it('replays the first response for a repeated key and refuses the key with other parameters', async () => {
    const c = stripe.addCustomer().id;
    const path = `/v1/customers/${c}/balance_transactions`;
    const first = await raw(path, { body: 'amount=-5&currency=eur', headers: { 'idempotency-key': 'k-1' } });
    const again = await raw(path, { body: 'currency=eur&amount=-5', headers: { 'idempotency-key': 'k-1' } });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
    const other = await raw(path, { body: 'amount=-6&currency=eur', headers: { 'idempotency-key': 'k-1' } });
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: { type: 'idempotency_error' } });
    expect(stripe.balanceTransactionsOf(c)).toHaveLength(1);
    expect(stripe.effects.get('k-1')).toBe(1);
  });

  it('refuses credit notes Stripe refuses: no amount, a draft invoice, a split that does not add up, more than was paid', async () => {
    const { customer } = subscribed('price_business_eur');
    const paid = stripe.invoicesOf(customer)[0]!;
    expect(await errorOf(await raw('/v1/credit_notes', { body: `invoice=${paid.id}` }))).toMatchObject({
      message: 'One of amount, lines, or shipping_cost must be provided.',
    });
    expect(await errorOf(await raw('/v1/credit_notes', { body: 'amount=100' }))).toMatchObject({ message: 'Missing required param: invoice.' });
    // Paid: the whole amount is post-payment and must be split exactly.
    expect(await errorOf(await raw('/v1/credit_notes', { body: `invoice=${paid.id}&amount=100` }))).toMatchObject({
      message: expect.stringMatching(/must equal the post-payment amount/),
    });
    expect(await errorOf(await raw('/v1/credit_notes', { body: `invoice=${paid.id}&amount=100&credit_amount=60&refund_amount=30` }))).toMatchObject({
      message: expect.stringMatching(/must equal/),
    });
    expect(await errorOf(await raw('/v1/credit_notes', { body: `invoice=${paid.id}&amount=99999&credit_amount=99999` }))).toMatchObject({ param: 'amount' });
    const draft = await (await raw('/v1/invoices', { body: `customer=${customer}&currency=eur` })).json();
    expect(await errorOf(await raw('/v1/credit_notes', { body: `invoice=${(draft as { id: string }).id}&amount=100&credit_amount=100` }))).toMatchObject({
      message: expect.stringMatching(/finalized invoices/),
    });
    expect(await errorOf(await raw('/v1/credit_notes', { body: `invoice=${paid.id}&amount=100&credit_amount=100&reason=because` }))).toMatchObject({
      param: 'reason',
    });
    expect(stripe.creditNotesOf(customer)).toEqual([]);
  });

  it('refuses invoice items on finalized invoices, a finalize twice, and pause or cancel instants in the past', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const open = (await (await raw('/v1/invoices', { body: `customer=${customer}&currency=eur&pending_invoice_items_behavior=exclude` })).json()) as {
      id: string;
    };
    expect((await raw(`/v1/invoices/${open.id}/finalize`, { body: '' })).status).toBe(200);
    expect(await errorOf(await raw(`/v1/invoices/${open.id}/finalize`, { body: '' }))).toMatchObject({ message: expect.stringMatching(/already finalized/) });
    expect(await errorOf(await raw('/v1/invoiceitems', { body: `customer=${customer}&amount=100&currency=eur&invoice=${open.id}` }))).toMatchObject({
      param: 'invoice',
    });
    expect(await errorOf(await raw('/v1/invoices', { body: `customer=${customer}&collection_method=send_invoice` }))).toMatchObject({
      param: 'days_until_due',
    });
    const past = Math.floor(Date.now() / 1000) - 60;
    expect(
      await errorOf(await raw(`/v1/subscriptions/${sub.id}`, { body: `pause_collection[behavior]=void&pause_collection[resumes_at]=${past}` })),
    ).toMatchObject({ param: 'pause_collection[resumes_at]' });
    expect(await errorOf(await raw(`/v1/subscriptions/${sub.id}`, { body: 'pause_collection[behavior]=stop' }))).toMatchObject({
      param: 'pause_collection[behavior]',
    });
    expect(await errorOf(await raw(`/v1/subscriptions/${sub.id}`, { body: `cancel_at=${past}` }))).toMatchObject({ param: 'cancel_at' });
    expect(
      await errorOf(
        await raw(`/v1/subscriptions/${sub.id}`, {
          body: `items[0][id]=${sub.items[0]!.id}&items[0][price]=price_starter_eur&proration_date=${sub.current_period_start - 10}`,
        }),
      ),
    ).toMatchObject({ param: 'proration_date' });
    expect(sub.pause_collection).toBeNull();
    expect(sub.items[0]!.price).toBe('price_business_eur');
  });
});

describe('changes told to Stripe when they are scheduled', () => {
  const periodEndOf = (sub: { current_period_end: number }) => new Date(sub.current_period_end * 1000).toISOString();
  const scheduled = (adj: BillingAdjustment): BillingAdjustment => ({
    ...adj,
    idempotencyKey: adj.idempotencyKey.replace(/\.apply$/, '.schedule'),
    phase: 'schedule',
  });
  const unscheduled = (adj: BillingAdjustment): BillingAdjustment => ({
    ...adj,
    idempotencyKey: adj.idempotencyKey.replace(/\.apply$/, '.unschedule'),
    phase: 'unschedule',
  });

  it('a termination sets cancel_at to the effective instant without prorating, so Stripe never renews into another period', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const at = periodEndOf(sub);
    const base = buildAdjustment({
      kind: 'termination',
      subtype: 'customer_initiated',
      billingCustomerId: customer,
      currency: 'EUR',
      effectiveAt: at,
      effect: { type: 'cancel', mode: 'at', at },
    });

    expect(await provider.scheduleAdjustment(scheduled(base))).toMatchObject({ providerRef: `stripe:${sub.id}`, subscription: { cancel_at: at } });
    expect(stripe.writes()).toMatchObject([
      {
        path: `/v1/subscriptions/${sub.id}`,
        idempotencyKey: `${scheduled(base).idempotencyKey}.sub`,
        params: { cancel_at: String(sub.current_period_end), proration_behavior: 'none' },
        status: 200,
      },
    ]);
    // Scheduling again (a retried job) writes nothing new.
    await provider.scheduleAdjustment(scheduled(base));
    expect(stripe.writes()).toHaveLength(1);
  });

  it('a plan change at the period end that is not prorated moves the plan item at once; a prorated or later one waits', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const at = periodEndOf(sub);
    const down = buildAdjustment({
      kind: 'downgrade',
      subtype: 'subscription',
      billingCustomerId: customer,
      currency: 'EUR',
      effectiveAt: at,
      effect: { ...planEffect('starter', false, 'business'), at },
    });
    expect(await provider.scheduleAdjustment(scheduled(down))).toMatchObject({ subscription: { plan: 'starter' } });
    expect(sub.items[0]!.price).toBe('price_starter_eur');
    expect(stripe.prorationsOf(sub.id)).toHaveLength(0);

    const other = subscribed('price_starter_eur');
    const later = new Date(Date.now() + 45 * 86_400_000).toISOString();
    expect(
      await provider.scheduleAdjustment(
        scheduled(buildAdjustment({ billingCustomerId: other.customer, currency: 'EUR', effect: { ...planEffect('business', false), at: later } })),
      ),
    ).toEqual({ providerRef: 'stripe:none' });
    expect(
      await provider.scheduleAdjustment(
        scheduled(
          buildAdjustment({ billingCustomerId: other.customer, currency: 'EUR', effect: { ...planEffect('business', true), at: periodEndOf(other.sub) } }),
        ),
      ),
    ).toEqual({ providerRef: 'stripe:none' });
    expect(other.sub.items[0]!.price).toBe('price_starter_eur');
  });

  it('unscheduling takes the cancellation back and moves the plan item back, each once, touching nothing else', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const at = periodEndOf(sub);
    const term = buildAdjustment({
      kind: 'termination',
      subtype: 'customer_initiated',
      billingCustomerId: customer,
      currency: 'EUR',
      effectiveAt: at,
      effect: { type: 'cancel', mode: 'at', at },
    });
    await provider.scheduleAdjustment(scheduled(term));
    await provider.unscheduleAdjustment(unscheduled(term));
    expect(sub.cancel_at).toBeNull();
    expect(stripe.writes()[1]).toMatchObject({
      idempotencyKey: `${unscheduled(term).idempotencyKey}.sub`,
      params: { cancel_at: '', proration_behavior: 'none' },
      status: 200,
    });
    await provider.unscheduleAdjustment(unscheduled(term));
    expect(stripe.writes()).toHaveLength(2);

    const other = subscribed('price_business_eur');
    const down = buildAdjustment({
      kind: 'downgrade',
      subtype: 'subscription',
      billingCustomerId: other.customer,
      currency: 'EUR',
      effect: { ...planEffect('starter', false, 'business'), at: periodEndOf(other.sub) },
    });
    await provider.scheduleAdjustment(scheduled(down));
    await provider.unscheduleAdjustment(unscheduled(down));
    expect(other.sub.items[0]!.price).toBe('price_business_eur');

    // A cancellation the customer set themselves (earlier than ours) is not touched.
    const own = subscribed('price_business_eur');
    own.sub.cancel_at = own.sub.current_period_end - 86_400;
    const t2 = buildAdjustment({
      kind: 'termination',
      subtype: 'other',
      billingCustomerId: own.customer,
      currency: 'EUR',
      effect: { type: 'cancel', mode: 'at', at: periodEndOf(own.sub) },
    });
    await provider.scheduleAdjustment(scheduled(t2));
    await provider.unscheduleAdjustment(unscheduled(t2));
    expect(own.sub.cancel_at).toBe(own.sub.current_period_end - 86_400);
  });

  it('an immediate deactivation brings a later cancellation forward to the period end, and keeps an earlier one', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    sub.cancel_at = sub.current_period_end + 40 * 86_400;
    await provider.applyAdjustment(
      buildAdjustment({
        kind: 'status_change',
        subtype: 'deactivation',
        billingCustomerId: customer,
        currency: 'EUR',
        effect: { type: 'cancel', mode: 'period_end', at: null },
      }),
    );
    expect(sub.cancel_at_period_end).toBe(true);

    const other = subscribed('price_business_eur');
    other.sub.cancel_at = other.sub.current_period_end - 86_400;
    await provider.applyAdjustment(
      buildAdjustment({
        kind: 'status_change',
        subtype: 'deactivation',
        billingCustomerId: other.customer,
        currency: 'EUR',
        effect: { type: 'cancel', mode: 'period_end', at: null },
      }),
    );
    expect(other.sub.cancel_at_period_end).toBe(false);
    expect(stripe.writes()).toHaveLength(1);
  });

  it('refuses a cancel_at in the past, as Stripe does', async () => {
    const { customer } = subscribed('price_business_eur');
    const at = new Date(Date.now() - 60_000).toISOString();
    const adj = buildAdjustment({
      kind: 'termination',
      subtype: 'customer_initiated',
      billingCustomerId: customer,
      currency: 'EUR',
      effect: { type: 'cancel', mode: 'at', at },
    });
    const err = await failure(provider.scheduleAdjustment(scheduled(adj)));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/cancel_at/);
  });
});

describe('preview and state', () => {
  it('previews a prorated change with the same proration_date apply sends, and apply matches it', async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    const adj = buildAdjustment({
      kind: 'upgrade',
      subtype: 'subscription',
      billingCustomerId: customer,
      currency: 'EUR',
      effect: planEffect('business', true),
    });
    const preview = await provider.preview(adj);
    const call = stripe.requests.find((r) => r.path === '/v1/invoices/create_preview')!;
    const at = Math.floor(Date.parse(adj.effect.type === 'plan_change' ? adj.effect.at : '') / 1000);
    expect(call.params).toEqual({
      customer,
      subscription: sub.id,
      subscription_details: {
        items: [{ id: sub.items[0]!.id, price: 'price_business_eur' }],
        proration_behavior: 'create_prorations',
        proration_date: String(at),
      },
    });
    // Nothing changed by a preview.
    expect(sub.items[0]!.price).toBe('price_starter_eur');
    const result = await provider.applyAdjustment(adj);
    const applied = (result.money ?? []).reduce((s, m) => s + (m.type === 'charge' ? m.amount.amount_minor : -m.amount.amount_minor), 0);
    expect(preview).toEqual({ provider: 'stripe', amount: money(applied, 'EUR'), prorationDate: new Date(at * 1000).toISOString() });
  });

  it('reads the plan subscription and the balance changed by adjustments and credit notes', async () => {
    const { customer, sub } = subscribed('price_business_eur', { extraPrices: ['price_addon_eur'] });
    stripe.addSubscription({ customer, price: 'price_addon_eur' });
    sub.cancel_at = sub.current_period_end;
    await provider.applyAdjustment(buildAdjustment({ billingCustomerId: customer, ...eurCredit(250) }));
    const state = await provider.accountState({ id: 'acc', billingCustomerId: customer, currency: 'EUR' });
    expect(state).toEqual({
      subscription: { id: sub.id, plan: 'business', cancel_at: new Date(sub.current_period_end * 1000).toISOString(), paused: false, pause_resumes_at: null },
      planSubscriptions: 1,
      balance: money(-250, 'EUR'),
    });
  });
});
