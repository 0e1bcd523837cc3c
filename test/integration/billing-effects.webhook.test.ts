import { BILLING_EFFECTS_TABLE } from '../../src/records/billing';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock } from '../helpers/app';
import { ROW_SCENARIOS, webhookHarness } from '../helpers/billing-rows';
import type { RowContext, RowOutcome } from '../helpers/billing-rows';

/**
 * The billing-effects table, webhook column: one test per row. Each effect reaches the receiving
 * billing system as its own documented event type, signed (Standard Webhooks) and checked by the
 * receiver against the event's published JSON schema.
 */
let t: TestDb;
let h: Awaited<ReturnType<typeof webhookHarness>>;
beforeAll(async () => {
  t = await createTestDb();
  h = await webhookHarness();
});
afterAll(async () => {
  await h.close();
  await t.destroy();
});

/** The events the receiver applied for a record, as [type, webhook-id]. */
const eventsOf = (o: RowOutcome) =>
  [...h.receiver.applied.entries()]
    .map(([id, a]) => [(a.body as { type: string }).type, id, (a.body as { data: Record<string, unknown> }).data] as const)
    .filter(([, , d]) => d.record_id === o.record.id);

const sent =
  (...expected: [string, string, Record<string, unknown>?][]) =>
  async (o: RowOutcome) => {
    const got = eventsOf(o);
    expect(got.map(([type, id]) => [type, id])).toEqual(expected.map(([type, step]) => [type, `billing.${o.record.id}.${step}`]));
    expected.forEach(([, , data], i) => {
      if (data) expect(got[i]![2]).toMatchObject(data);
    });
    expect(got.every(([, , d]) => d.account_id === o.account.id && d.billing_customer_id === o.customer)).toBe(true);
  };

const plan = (to: string, prorated: boolean) => async (o: RowOutcome) => {
  await sent([
    'lifecycle.plan_changed',
    'apply',
    { to_plan: to, from_plan: 'growth', prorate: prorated, proration_date: prorated ? o.record.effective_at : null },
  ])(o);
  expect(o.account.plan_id).toBe(to);
  expect(o.book).toMatchObject({ plan_id: to });
};
const nothing = async (o: RowOutcome) => {
  expect(eventsOf(o)).toEqual([]);
  expect(o.book).toBeNull();
};
const credit = (amount: number) => async (o: RowOutcome) => {
  await sent(['lifecycle.credit_granted', 'apply', { amount: { amount_minor: amount, currency: 'EUR' }, paid_invoice: 'credit' }])(o);
  expect(o.ledgerBalance).toBe(-amount);
};
const cancelled = (mode: string) => ['lifecycle.subscription_cancelled', 'apply', { mode }] as [string, string, Record<string, unknown>];

const EXPECT: Record<string, (o: RowOutcome) => Promise<void>> = {
  'downgrade/subscription': plan('starter', false),
  'downgrade/feature': nothing,
  'downgrade/sla': plan('starter', false),
  'downgrade/contractual': async (o) => {
    expect(o.outcome).toBe('scheduled');
    await plan('starter', false)(o);
  },
  'downgrade/support_tier': nothing,
  'upgrade/subscription': plan('business', true),
  'upgrade/support_tier': nothing,
  'upgrade/product': plan('enterprise', true),
  'upgrade/pricing_model': plan('business', true),
  'upgrade/sla': plan('business', true),
  'upgrade/access': nothing,
  'termination/customer_initiated': sent(
    cancelled('now'),
    ['lifecycle.fee_charged', 'fee', { amount: { amount_minor: 50000, currency: 'EUR' } }],
    ['lifecycle.refund_issued', 'refund', { amount: { amount_minor: 1000, currency: 'EUR' } }],
  ),
  'termination/non_payment': sent(cancelled('now')),
  'termination/breach': async (o) => {
    await sent(['lifecycle.subscription_cancelled', 'apply', { mode: 'at', cancel_at: o.record.effective_at }], ['lifecycle.fee_charged', 'fee'])(o);
  },
  'termination/other': sent(cancelled('now'), ['lifecycle.refund_issued', 'refund', { amount: { amount_minor: 500, currency: 'EUR' } }]),
  'status_change/activation': async (o) => {
    await sent(['lifecycle.billing_resumed', 'apply', { plan: 'growth', price: { amount_minor: 9900, currency: 'EUR' } }])(o);
    expect(o.account).toMatchObject({ status: 'active', mrr_minor: 9900 });
  },
  'status_change/suspension': async (o) => {
    const review = (o.record.details.suspension as { review_date: string }).review_date;
    await sent(['lifecycle.collection_paused', 'apply', { resumes_at: `${review}T00:00:00.000Z` }])(o);
  },
  'status_change/deactivation': sent(cancelled('period_end')),
  'status_change/reactivation': async (o) => {
    await sent(['lifecycle.billing_resumed', 'apply'])(o);
    expect(o.account).toMatchObject({ status: 'active', mrr_minor: 9900 });
  },
  'status_change/merge': async (o) => {
    await sent(['lifecycle.account_merged', 'apply', { target_account_id: o.target!.id, target_billing_customer_id: o.targetCustomer }])(o);
    // The receiver said it moved the credit: the ledger follows its figure.
    expect(o.ledgerBalance).toBe(0);
    expect(
      await t
        .db('ledger_balances')
        .where({ ledger_account: `balance:${o.target!.id}` })
        .first(),
    ).toMatchObject({ balance_minor: '-80' });
  },
  'status_change/closure': sent(cancelled('period_end')),
  'service_credit/outage': credit(300),
  'service_credit/sla_breach': credit(250),
  'service_credit/billing_discrepancy': credit(200),
  'service_credit/delay': credit(150),
  'service_credit/goodwill': credit(100),
};

it('has one test for every row of the billing-effects table', () => {
  expect(Object.keys(EXPECT).sort()).toEqual(BILLING_EFFECTS_TABLE.map((r) => `${r.kind}/${r.subtype}`).sort());
});

describe.each(ROW_SCENARIOS.map((r) => [`${r.kind}/${r.subtype}`, r] as const))('webhook: %s', (key, row) => {
  it('sends each effect as its own documented event, and reconcile finds nothing to report', async () => {
    h.receiver.confirmAmount.set('lifecycle.account_merged', 80);
    const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
    const o = await row.run(ctx);
    await EXPECT[key]!(o);
    expect(h.receiver.schemaErrors).toEqual([]);
    expect(h.receiver.deliveries.every((d) => d.check.ok)).toBe(true);
    expect(o.reconcile.differences).toEqual([]);
    expect(o.reconcile.providerCompared).toBe(false);
  });
});
