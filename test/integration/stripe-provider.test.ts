import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { StripeBillingProvider, stripeStepsFor, toStripeAmount } from '../../src/integrations/billing/stripe.provider';
import { AppError } from '../../src/records/errors';
import { money } from '../../src/records/money';
import type { BillingAdjustment } from '../../src/records/ports';
import { FakeStripe } from '../helpers/fake-stripe';

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
  provider = makeProvider();
});
afterAll(async () => {
  await stripe.close();
});
beforeEach(() => stripe.reset());

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
    amount: money(-1500, 'JPY'),
    toPlan: null,
    fromPlan: null,
    cancelAtPeriodEnd: false,
    effectiveAt: null,
    description: `service_credit outage (record ${recordId})`,
    ...over,
  };
}

/** A customer with a live subscription on `price`. */
function subscribed(price: string) {
  const customer = stripe.addCustomer();
  return { customer: customer.id, sub: stripe.addSubscription({ customer: customer.id, price }) };
}

const failure = async (p: Promise<unknown>): Promise<AppError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
};

const effectsOf = (key: string) => (stripe.effects.get(`${key}.sub`) ?? 0) + (stripe.effects.get(`${key}.bal`) ?? 0);

describe('mapping adjustments to Stripe', () => {
  it('an upgrade moves the plan item to the mapped price with Stripe prorating, under a derived idempotency key', async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    const adj = buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, toPlan: 'business', amount: money(3000, 'EUR') });

    expect(await provider.applyAdjustment(adj)).toEqual({ providerRef: `stripe:${sub.id}` });

    expect(sub.items[0]!.price).toBe('price_business_eur');
    const [write] = stripe.writes();
    expect(write).toMatchObject({
      path: `/v1/subscriptions/${sub.id}`,
      idempotencyKey: `${adj.idempotencyKey}.sub`,
      params: { items: [{ id: sub.items[0]!.id, price: 'price_business_eur' }], proration_behavior: 'create_prorations' },
      status: 200,
    });
    expect(write!.stripeVersion).toBe(Stripe.API_VERSION);
    // Stripe priced the rest of the period: a credit for the old price, a charge for the new.
    const prorations = stripe.prorations.filter((p) => p.subscription === sub.id);
    expect(prorations).toHaveLength(2);
    expect(prorations.reduce((s, p) => s + p.amount, 0)).toBeGreaterThan(0);
    // The domain's amount is not charged a second time on the balance.
    expect(stripe.balanceTransactionsOf(customer)).toHaveLength(0);
  });

  it('a downgrade (run at term end) changes the price without prorating', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    await provider.applyAdjustment(buildAdjustment({ kind: 'downgrade', subtype: 'subscription', billingCustomerId: customer, toPlan: 'starter', amount: money(-6000, 'EUR') }));
    expect(sub.items[0]!.price).toBe('price_starter_eur');
    expect(stripe.writes()[0]!.params).toMatchObject({ proration_behavior: 'none' });
    expect(stripe.prorations.filter((p) => p.subscription === sub.id)).toHaveLength(0);
    expect(stripe.balanceTransactionsOf(customer)).toHaveLength(0);
  });

  it('picks the price for the subscription currency (JPY)', async () => {
    const { customer, sub } = subscribed('price_starter_jpy');
    await provider.applyAdjustment(buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, toPlan: 'business', amount: money(8000, 'JPY') }));
    expect(sub.items[0]!.price).toBe('price_business_jpy');
  });

  it('a service credit in JPY is a negative balance transaction of the same number (yen have no minor unit)', async () => {
    const adj = buildAdjustment({ amount: money(-1500, 'JPY') });
    const { providerRef } = await provider.applyAdjustment(adj);

    const [tx] = stripe.balanceTransactionsOf(adj.billingCustomerId!);
    expect(providerRef).toBe(`stripe:${tx!.id}`);
    expect(tx).toMatchObject({
      amount: -1500,
      currency: 'jpy',
      description: adj.description,
      metadata: { record_id: adj.recordId, account_id: 'acc_stripe', kind: 'service_credit', idempotency_key: adj.idempotencyKey },
    });
    expect(stripe.customers.get(adj.billingCustomerId!)!.balance).toBe(-1500);
    expect(stripe.writes()[0]!.idempotencyKey).toBe(`${adj.idempotencyKey}.bal`);
  });

  it('a service credit in EUR is sent in cents', async () => {
    const adj = buildAdjustment({ amount: money(-1234, 'EUR') });
    await provider.applyAdjustment(adj);
    expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toMatchObject([{ amount: -1234, currency: 'eur' }]);
  });

  it('a termination cancels at period end and charges the early-termination fee, each call under its own key', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const adj = buildAdjustment({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: customer, cancelAtPeriodEnd: true, amount: money(50_000, 'EUR') });

    const { providerRef } = await provider.applyAdjustment(adj);

    const [tx] = stripe.balanceTransactionsOf(customer);
    expect(providerRef).toBe(`stripe:${sub.id},${tx!.id}`);
    expect(sub).toMatchObject({ cancel_at_period_end: true, status: 'active', items: [{ price: 'price_business_eur' }] });
    expect(tx).toMatchObject({ amount: 50_000, currency: 'eur' });
    expect(stripe.writes().map((w) => [w.path, w.idempotencyKey])).toEqual([
      [`/v1/subscriptions/${sub.id}`, `${adj.idempotencyKey}.sub`],
      [`/v1/customers/${customer}/balance_transactions`, `${adj.idempotencyKey}.bal`],
    ]);
    expect(stripe.writes()[0]!.params).toEqual({ cancel_at_period_end: 'true' });
  });

  it('a fee-free termination only cancels; a closure without a live subscription has nothing to do', async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    await provider.applyAdjustment(buildAdjustment({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: customer, cancelAtPeriodEnd: true, amount: money(0, 'EUR') }));
    expect(sub.cancel_at_period_end).toBe(true);
    expect(stripe.balanceTransactionsOf(customer)).toHaveLength(0);

    stripe.reset();
    const closure = buildAdjustment({ kind: 'status_change', subtype: 'closure', cancelAtPeriodEnd: true, amount: null });
    expect(await provider.applyAdjustment(closure)).toEqual({ providerRef: 'stripe:none' });
    expect(stripe.writes()).toHaveLength(0);
  });

  it('adjustments with nothing for Stripe make no call at all', async () => {
    const suspension = buildAdjustment({ kind: 'status_change', subtype: 'suspension', amount: null, billingCustomerId: null });
    expect(await provider.applyAdjustment(suspension)).toEqual({ providerRef: 'stripe:none' });
    expect(stripe.requests).toHaveLength(0);
  });

  it('the mapping, without a server', () => {
    expect(stripeStepsFor({ kind: 'upgrade', toPlan: 'business', amount: money(100, 'EUR'), cancelAtPeriodEnd: false })).toEqual({
      planChange: { toPlan: 'business', prorationBehavior: 'create_prorations' },
      cancelAtPeriodEnd: false,
      balance: null,
    });
    expect(stripeStepsFor({ kind: 'downgrade', toPlan: 'starter', amount: money(-100, 'EUR'), cancelAtPeriodEnd: false }).planChange).toEqual({
      toPlan: 'starter',
      prorationBehavior: 'none',
    });
    expect(stripeStepsFor({ kind: 'upgrade', toPlan: null, amount: null, cancelAtPeriodEnd: false })).toEqual({ planChange: null, cancelAtPeriodEnd: false, balance: null });
    expect(stripeStepsFor({ kind: 'termination', toPlan: null, amount: money(500, 'EUR'), cancelAtPeriodEnd: true })).toEqual({
      planChange: null,
      cancelAtPeriodEnd: true,
      balance: money(500, 'EUR'),
    });
    // Stripe's special cases: ISK is two-decimal in its API though ISO (and the domain) give it none.
    expect(toStripeAmount(money(500, 'JPY'))).toBe(500);
    expect(toStripeAmount(money(1234, 'EUR'))).toBe(1234);
    expect(toStripeAmount(money(5, 'ISK'))).toBe(500);
    expect(toStripeAmount(money(12_340, 'KWD'))).toBe(12_340);
  });
});

describe('exactly once under failures', () => {
  it('a retry after a 500 uses the same key and has exactly one effect', async () => {
    const adj = buildAdjustment({ amount: money(-2500, 'EUR') });
    stripe.inject({ type: 'api_error' }, { method: 'POST' });

    expect(await failure(provider.applyAdjustment(adj))).toMatchObject({ code: 'provider_failed', retryable: true, options: { details: { status: 500, type: 'api_error' } } });
    expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toHaveLength(0);

    await provider.applyAdjustment(adj);
    await provider.applyAdjustment(adj);
    expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toHaveLength(1);
    expect(stripe.customers.get(adj.billingCustomerId!)!.balance).toBe(-2500);
    expect(stripe.writes().map((w) => w.idempotencyKey)).toEqual([`${adj.idempotencyKey}.bal`, `${adj.idempotencyKey}.bal`]);
    expect(stripe.duplicatedEffects()).toEqual([]);
  });

  it('a response lost after Stripe applied the write: the retry finds it and applies nothing twice', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const adj = buildAdjustment({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: customer, cancelAtPeriodEnd: true, amount: money(9000, 'EUR') });
    stripe.inject({ type: 'lost' }, { method: 'POST', path: /balance_transactions/ });

    expect(await failure(provider.applyAdjustment(adj))).toMatchObject({ retryable: true });
    expect(sub.cancel_at_period_end).toBe(true);

    const { providerRef } = await provider.applyAdjustment(adj);
    const txs = stripe.balanceTransactionsOf(customer);
    expect(txs).toHaveLength(1);
    expect(providerRef).toBe(`stripe:${sub.id},${txs[0]!.id}`);
    expect(effectsOf(adj.idempotencyKey)).toBe(2);
    expect(stripe.duplicatedEffects()).toEqual([]);
  });

  it('a timed-out call is retryable, and its retry does not apply it again', async () => {
    const adj = buildAdjustment({ amount: money(-700, 'EUR') });
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
    const adj = buildAdjustment({ amount: money(-300, 'EUR') });
    // Both lookups answer late, so both attempts go on to write.
    stripe.inject({ type: 'slow', delayMs: 100 }, { method: 'GET', times: 2 });

    const [a, b] = await Promise.all([provider.applyAdjustment(adj), provider.applyAdjustment(adj)]);

    expect(a).toEqual(b);
    expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toHaveLength(1);
    expect(stripe.writes().map((w) => w.replayed).sort()).toEqual([false, true]);
    expect(stripe.effects.get(`${adj.idempotencyKey}.bal`)).toBe(1);
  });

  it("after Stripe's 24-hour key window a late retry still finds what was applied", async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    const upgrade = buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, toPlan: 'business', amount: money(100, 'EUR') });
    const credit = buildAdjustment({ billingCustomerId: customer, amount: money(-400, 'EUR') });
    await provider.applyAdjustment(upgrade);
    const first = await provider.applyAdjustment(credit);

    stripe.expireIdempotencyKeys();
    stripe.reset();
    expect(await provider.applyAdjustment(upgrade)).toEqual({ providerRef: `stripe:${sub.id}` });
    expect(await provider.applyAdjustment(credit)).toEqual(first);

    expect(stripe.writes()).toHaveLength(0);
    expect(stripe.prorations.filter((p) => p.subscription === sub.id)).toHaveLength(2);
    expect(stripe.balanceTransactionsOf(customer)).toHaveLength(1);
  });

  it('many adjustments, each retried after injected failures: 0 lost, 0 duplicated', async () => {
    const adjs = Array.from({ length: 12 }, (_, i) => buildAdjustment({ amount: money(-(100 + i), i % 2 ? 'EUR' : 'JPY') }));
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
    for (const adj of adjs) expect(stripe.balanceTransactionsOf(adj.billingCustomerId!)).toMatchObject([{ amount: adj.amount!.amount_minor }]);
    expect(stripe.duplicatedEffects()).toEqual([]);
  });
});

describe('failures the job system can and cannot retry', () => {
  it('429 is retryable and passes Retry-After on', async () => {
    stripe.inject({ type: 'rate_limit', retryAfterSeconds: 2 });
    const err = await failure(provider.applyAdjustment(buildAdjustment()));
    expect(err).toMatchObject({ retryable: true, options: { details: { status: 429, type: 'rate_limit_error', code: 'rate_limit', retry_after_ms: 2000 } } });
    expect(err.message).toMatch(/retry after 2 s/);
  });

  it('400 invalid_request_error is final', async () => {
    stripe.inject({ type: 'invalid_request', message: 'This customer has no attached payment source', param: 'customer' }, { method: 'POST' });
    const err = await failure(provider.applyAdjustment(buildAdjustment()));
    expect(err).toMatchObject({ retryable: false, options: { details: { status: 400, type: 'invalid_request_error' } } });
    expect(err.message).toMatch(/400 invalid_request_error on customer/);
  });

  it('the same key with other parameters is an idempotency_error, and final', async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    const adj = buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, toPlan: 'business', amount: money(100, 'EUR') });
    await provider.applyAdjustment(adj);
    // A bug that reused the key for another change: Stripe refuses rather than guess.
    const err = await failure(provider.applyAdjustment({ ...adj, kind: 'downgrade', toPlan: 'starter' }));
    expect(err).toMatchObject({ retryable: false, options: { details: { status: 400, type: 'idempotency_error' } } });
    expect(sub.items[0]!.price).toBe('price_business_eur');
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

    const unmapped = await failure(provider.applyAdjustment(buildAdjustment({ kind: 'upgrade', subtype: 'subscription', toPlan: 'enterprise' })));
    expect(unmapped).toMatchObject({ retryable: false });
    expect(unmapped.message).toMatch(/plan enterprise has no Stripe price; add it to STRIPE_PRICE_MAP_FILE/);

    const { customer } = subscribed('price_starter_jpy');
    const noEur = await failure(provider.applyAdjustment(buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, toPlan: 'ghost' })));
    expect(noEur.message).toMatch(/plan ghost has no Stripe price in JPY/);

    const { customer: c2 } = subscribed('price_starter_eur');
    const badPrice = await failure(provider.applyAdjustment(buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: c2, toPlan: 'ghost' })));
    expect(badPrice).toMatchObject({ retryable: false, options: { details: { status: 404 } } });
    expect(badPrice.message).toMatch(/No such price: 'price_does_not_exist'/);

    const noSub = await failure(provider.applyAdjustment(buildAdjustment({ kind: 'downgrade', subtype: 'subscription', toPlan: 'starter' })));
    expect(noSub).toMatchObject({ retryable: false });
    expect(noSub.message).toMatch(/has no live subscription to change/);
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

  it('checks the key, the version header, the encoding and the parameters', async () => {
    const c = stripe.addCustomer().id;
    const path = `/v1/customers/${c}/balance_transactions`;
    expect((await raw(path, { body: 'amount=-5&currency=eur', headers: { authorization: 'Bearer sk_test_nope' } })).status).toBe(401);
    expect((await raw(path, { body: 'amount=-5&currency=eur', headers: { 'stripe-version': '' } })).status).toBe(400);
    expect((await raw(path, { body: '{"amount":-5,"currency":"eur"}', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    const unknown = await raw(path, { body: 'amount=-5&currency=eur&amout=1' });
    expect(await unknown.json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'amout' } });
    expect(await (await raw(path, { body: 'currency=eur' })).json()).toMatchObject({ error: { message: 'Missing required param: amount.' } });
    expect(await (await raw(path, { body: 'amount=-5&currency=EUR' })).json()).toMatchObject({ error: { param: 'currency' } });
    expect(await (await raw(path, { body: 'amount=-5&currency=eur&metadata[a]=1&metadata[b][c]=2' })).json()).toMatchObject({ error: { param: 'metadata[b]' } });
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
});

describe('end-of-term changes are told to Stripe when they are scheduled', () => {
  const termEnd = () => new Date(Date.now() + 15 * 86_400_000).toISOString().replace(/\.\d{3}Z$/, '.000Z');
  const scheduleKey = (adj: BillingAdjustment) => adj.idempotencyKey.replace(/\.apply$/, '.schedule');

  it('a termination sets cancel_at to the effective instant without prorating, so Stripe never renews into another period', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const effectiveAt = termEnd();
    const base = buildAdjustment({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: customer, cancelAtPeriodEnd: true, amount: money(9000, 'EUR'), effectiveAt });
    const scheduled = { ...base, idempotencyKey: scheduleKey(base) };

    expect(await provider.scheduleAdjustment(scheduled)).toEqual({ providerRef: `stripe:${sub.id}` });
    expect(stripe.writes()).toMatchObject([
      { path: `/v1/subscriptions/${sub.id}`, idempotencyKey: `${scheduled.idempotencyKey}.sub`, params: { cancel_at: String(Date.parse(effectiveAt) / 1000), proration_behavior: 'none' }, status: 200 },
    ]);
    expect(sub.cancel_at).toBe(Date.parse(effectiveAt) / 1000);
    // The fee waits for the effective instant: nothing on the balance yet.
    expect(stripe.balanceTransactionsOf(customer)).toHaveLength(0);

    // Scheduling again (a retried job) writes nothing new.
    await provider.scheduleAdjustment(scheduled);
    expect(stripe.writes()).toHaveLength(1);

    // At the effective instant the fee is charged, and the set cancellation is left as it is.
    await provider.applyAdjustment(base);
    const writes = stripe.writes();
    expect(writes).toHaveLength(2);
    expect(writes[1]!.path).toBe(`/v1/customers/${customer}/balance_transactions`);
    expect(sub.cancel_at_period_end).toBe(false);
    expect(sub.cancel_at).toBe(Date.parse(effectiveAt) / 1000);
  });

  it('a downgrade moves the plan item at once without prorating: the current period stays as invoiced, the next bills the new price', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const base = buildAdjustment({ kind: 'downgrade', subtype: 'subscription', billingCustomerId: customer, toPlan: 'starter', fromPlan: 'business', amount: money(-6000, 'EUR'), effectiveAt: termEnd() });
    await provider.scheduleAdjustment({ ...base, idempotencyKey: scheduleKey(base) });
    expect(sub.items[0]!.price).toBe('price_starter_eur');
    expect(stripe.writes()[0]!.params).toMatchObject({ items: [{ id: sub.items[0]!.id, price: 'price_starter_eur' }], proration_behavior: 'none' });
    expect(stripe.prorations.filter((p) => p.subscription === sub.id)).toHaveLength(0);
    // At term end there is nothing left to change.
    await provider.applyAdjustment(base);
    expect(stripe.writes()).toHaveLength(1);
  });

  it('unscheduling takes the cancellation back and moves the plan item back, each once', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    const term = buildAdjustment({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: customer, cancelAtPeriodEnd: true, amount: null, effectiveAt: termEnd() });
    await provider.scheduleAdjustment({ ...term, idempotencyKey: scheduleKey(term) });
    const undo = { ...term, idempotencyKey: term.idempotencyKey.replace(/\.apply$/, '.unschedule') };
    await provider.unscheduleAdjustment(undo);
    expect(sub.cancel_at).toBeNull();
    expect(stripe.writes()[1]).toMatchObject({ idempotencyKey: `${undo.idempotencyKey}.sub`, params: { cancel_at: '', proration_behavior: 'none' }, status: 200 });
    await provider.unscheduleAdjustment(undo);
    expect(stripe.writes()).toHaveLength(2);

    const other = subscribed('price_business_eur');
    const down = buildAdjustment({ kind: 'downgrade', subtype: 'subscription', billingCustomerId: other.customer, toPlan: 'starter', fromPlan: 'business', amount: null, effectiveAt: termEnd() });
    await provider.scheduleAdjustment({ ...down, idempotencyKey: scheduleKey(down) });
    await provider.unscheduleAdjustment({ ...down, idempotencyKey: down.idempotencyKey.replace(/\.apply$/, '.unschedule') });
    expect(other.sub.items[0]!.price).toBe('price_business_eur');
  });

  it('an upgrade, or a downgrade dated past this period, is not sent early', async () => {
    const { customer, sub } = subscribed('price_starter_eur');
    const up = buildAdjustment({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: customer, toPlan: 'business', fromPlan: 'starter', amount: money(3000, 'EUR'), effectiveAt: termEnd() });
    expect(await provider.scheduleAdjustment({ ...up, idempotencyKey: scheduleKey(up) })).toEqual({ providerRef: 'stripe:none' });
    const other = subscribed('price_business_eur');
    const later = new Date(Date.now() + 45 * 86_400_000).toISOString();
    const down = buildAdjustment({ kind: 'downgrade', subtype: 'subscription', billingCustomerId: other.customer, toPlan: 'starter', fromPlan: 'business', amount: null, effectiveAt: later });
    await provider.scheduleAdjustment({ ...down, idempotencyKey: scheduleKey(down) });
    expect(sub.items[0]!.price).toBe('price_starter_eur');
    expect(other.sub.items[0]!.price).toBe('price_business_eur');
    expect(stripe.writes()).toHaveLength(0);
  });

  it('an immediate termination brings a later cancellation forward to the period end, and keeps an earlier one', async () => {
    const { customer, sub } = subscribed('price_business_eur');
    sub.cancel_at = sub.current_period_end + 40 * 86_400;
    await provider.applyAdjustment(buildAdjustment({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: customer, cancelAtPeriodEnd: true, amount: null }));
    expect(sub.cancel_at_period_end).toBe(true);

    const other = subscribed('price_business_eur');
    other.sub.cancel_at = other.sub.current_period_end - 86_400;
    await provider.applyAdjustment(buildAdjustment({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: other.customer, cancelAtPeriodEnd: true, amount: null }));
    expect(other.sub.cancel_at_period_end).toBe(false);
    expect(stripe.writes()).toHaveLength(1);
  });

  it('the stand-in refuses a cancel_at in the past, as Stripe does', async () => {
    const { customer } = subscribed('price_business_eur');
    const adj = buildAdjustment({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: customer, cancelAtPeriodEnd: true, amount: null, effectiveAt: new Date(Date.now() - 60_000).toISOString() });
    const err = await failure(provider.scheduleAdjustment({ ...adj, idempotencyKey: scheduleKey(adj) }));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/cancel_at/);
  });
});
