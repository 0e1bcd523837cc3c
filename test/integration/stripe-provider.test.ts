import { StripeBillingProvider } from '../../src/integrations/billing/stripe.provider';
import type { BillingAdjustment } from '../../src/records/ports';
import { AppError } from '../../src/records/errors';
import { FakeStripe } from '../helpers/fake-stripe';

let stripe: FakeStripe;
let provider: StripeBillingProvider;
let n = 0;

beforeAll(async () => {
  stripe = await FakeStripe.start();
  provider = new StripeBillingProvider({
    apiKey: 'sk_test_lifecycle',
    host: '127.0.0.1',
    port: stripe.port,
    protocol: 'http',
    priceIds: { business: { EUR: 'price_business_eur' }, starter: { EUR: 'price_starter_eur' } },
  });
});
afterAll(async () => {
  await stripe.close();
});

const adj = (over: Partial<BillingAdjustment>): BillingAdjustment => ({
  idempotencyKey: `billing.rec-${++n}.apply`,
  recordId: `00000000-0000-4000-8000-00000000000${n % 10}`,
  accountId: 'acc_1',
  billingCustomerId: 'cus_acme',
  kind: 'service_credit',
  subtype: 'outage',
  amount: { amount_minor: -1500, currency: 'JPY' },
  toPlan: null,
  cancelAtPeriodEnd: false,
  description: 'test',
  ...over,
});

it('an upgrade moves the subscription to the new price with Stripe prorating, under an idempotency key', async () => {
  const sub = stripe.addSubscription('cus_up', 'price_starter_eur');
  const a = adj({ kind: 'upgrade', subtype: 'subscription', billingCustomerId: 'cus_up', toPlan: 'business', amount: { amount_minor: 4200, currency: 'EUR' } });
  const r = await provider.applyAdjustment(a);
  expect(r.providerRef).toBe(`stripe:${sub.id}`);
  expect(sub.items[0]!.price).toBe('price_business_eur');
  expect(sub.proration_behavior).toBe('create_prorations');
  expect(stripe.requests.find((q) => q.method === 'POST')!.idempotencyKey).toBe(`${a.idempotencyKey}.sub`);
});

it('a downgrade at term end does not prorate', async () => {
  const sub = stripe.addSubscription('cus_down', 'price_business_eur');
  await provider.applyAdjustment(adj({ kind: 'downgrade', subtype: 'subscription', billingCustomerId: 'cus_down', toPlan: 'starter', amount: { amount_minor: -7000, currency: 'EUR' } }));
  expect(sub).toMatchObject({ proration_behavior: 'none', items: [{ price: 'price_starter_eur' }] });
});

it('a credit is a negative customer balance transaction in minor units (JPY has none)', async () => {
  await provider.applyAdjustment(adj({ billingCustomerId: 'cus_jp' }));
  expect(stripe.balanceTransactions.at(-1)).toMatchObject({ customer: 'cus_jp', amount: -1500, currency: 'jpy' });
  expect(stripe.balances.get('cus_jp')).toBe(-1500);
});

it('a termination cancels at period end and charges the fee', async () => {
  const sub = stripe.addSubscription('cus_term', 'price_business_eur');
  await provider.applyAdjustment(adj({ kind: 'termination', subtype: 'customer_initiated', billingCustomerId: 'cus_term', cancelAtPeriodEnd: true, amount: { amount_minor: 50000, currency: 'EUR' } }));
  expect(sub.cancel_at_period_end).toBe(true);
  expect(stripe.balances.get('cus_term')).toBe(50000);
});

it('a retry after a 500 uses the same key and produces exactly one effect; replays are answered by Stripe', async () => {
  stripe.failNext(500, 'api_error');
  const a = adj({ billingCustomerId: 'cus_retry', amount: { amount_minor: -2500, currency: 'EUR' } });
  const first = (await provider.applyAdjustment(a).catch((e: unknown) => e)) as AppError;
  expect(first).toMatchObject({ code: 'provider_failed', retryable: true });
  await provider.applyAdjustment(a);
  await provider.applyAdjustment(a);
  expect(stripe.balanceTransactions.filter((t) => t.customer === 'cus_retry')).toHaveLength(1);
  expect(stripe.balances.get('cus_retry')).toBe(-2500);
});

it('429 is retryable; 400 and a missing billing customer are not', async () => {
  stripe.failNext(429, 'rate_limit_error');
  expect(await provider.applyAdjustment(adj({ billingCustomerId: 'cus_rl' })).catch((e: unknown) => e)).toMatchObject({ retryable: true });
  stripe.failNext(400, 'invalid_request_error');
  expect(await provider.applyAdjustment(adj({ billingCustomerId: 'cus_bad' })).catch((e: unknown) => e)).toMatchObject({ retryable: false });
  const none = (await provider.applyAdjustment(adj({ billingCustomerId: null })).catch((e: unknown) => e)) as AppError;
  expect(none).toBeInstanceOf(AppError);
  expect(none.retryable).toBe(false);
  expect(none.message).toMatch(/acc_1 has no billing customer id/);
  expect(none.message).not.toContain('sk_test');
});
