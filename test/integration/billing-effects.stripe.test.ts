import Stripe from 'stripe';
import { BILLING_EFFECTS_TABLE } from '../../src/records/billing';
import { verifyAudit } from '../../src/db/audit.queries';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock } from '../helpers/app';
import { ROW_SCENARIOS, STRIPE_PRICES, stripeHarness } from '../helpers/billing-rows';
import type { RowContext, RowOutcome } from '../helpers/billing-rows';
import type { FakeStripe } from '../../devtools/stripe.standin';

/**
 * The billing-effects table, Stripe column: one test per row, through the official SDK against
 * the stand-in (which checks each request against Stripe's API reference). Each row gets its own
 * Stripe (its clock moves for scheduled rows).
 */
let t: TestDb;
let h: Awaited<ReturnType<typeof stripeHarness>>;
let stripe: FakeStripe;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.destroy();
});
beforeEach(async () => {
  h = await stripeHarness();
  stripe = h.stripe;
});
afterEach(async () => {
  await h.close();
});

const unix = (iso: string | null) => Math.floor(Date.parse(iso!) / 1000);
const subOf = (o: RowOutcome) => stripe.subscriptionsOf(o.customer!)[0]!;
const writesOf = (o: RowOutcome) =>
  stripe.writes().filter((w) => w.idempotencyKey?.startsWith(`billing.${o.record.id}.`) || (w.method === 'DELETE' && w.path.startsWith('/v1/subscriptions/')));
const keys = (o: RowOutcome) => writesOf(o).map((w) => [w.method, w.path.replace(/(sub|in|cus)_[0-9a-f]+/g, '$1_*'), w.idempotencyKey]);

type Leg = [string, number, number];
async function legsOf(recordId: string): Promise<Leg[]> {
  const rows = await t
    .db('ledger_entries as e')
    .join('ledger_transactions as t', 't.id', 'e.transaction_id')
    .where('t.record_id', recordId)
    .orderBy('e.id')
    .select('e.ledger_account', 'e.debit_minor', 'e.credit_minor');
  return rows.map((r: { ledger_account: string; debit_minor: string; credit_minor: string }) => [
    r.ledger_account,
    Number(r.debit_minor),
    Number(r.credit_minor),
  ]);
}

const planMoved = (plan: string, prorated: boolean) => async (o: RowOutcome) => {
  const sub = subOf(o);
  expect(sub.items[0]!.price).toBe(STRIPE_PRICES[plan]!.EUR);
  expect(o.account.plan_id).toBe(plan);
  expect(o.book).toMatchObject({ plan_id: plan, next_plan_id: null });
  const move = writesOf(o).find((w) => w.idempotencyKey === `billing.${o.record.id}.apply.sub`)!;
  const prorations = stripe.prorationsOf(sub.id);
  if (prorated) {
    expect(move.params).toMatchObject({
      items: [{ id: sub.items[0]!.id, price: STRIPE_PRICES[plan]!.EUR }],
      proration_behavior: 'create_prorations',
      proration_date: String(unix(o.record.effective_at)),
    });
    expect(prorations).toHaveLength(2);
    expect(prorations.every((p) => p.period.start === unix(o.record.effective_at))).toBe(true);
    // The ledger holds Stripe's own figures, not ours.
    const credit = prorations.find((p) => p.amount < 0);
    const charge = prorations.find((p) => p.amount > 0);
    expect(await legsOf(o.record.id)).toEqual([
      ['contra:plan_credits', -credit!.amount, 0],
      [`receivable:${o.account.id}`, 0, -credit!.amount],
      [`receivable:${o.account.id}`, charge!.amount, 0],
      ['revenue:subscriptions', 0, charge!.amount],
    ]);
  } else {
    expect(move.params).toMatchObject({ proration_behavior: 'none' });
    expect(prorations).toHaveLength(0);
    expect(await legsOf(o.record.id)).toEqual([]);
  }
};

const noStripeCall = async (o: RowOutcome) => {
  expect(stripe.requests.filter((r) => r.path !== '/v1/subscriptions' && !r.path.includes('balance_transactions'))).toEqual([]);
  expect(stripe.writes()).toEqual([]);
  expect(o.book).toBeNull();
};

/** A credit note on the period's invoice: `pre` off what is due, `credit` onto the balance. */
const creditNote = (amount: number, split: { pre: number; credit: number }) => async (o: RowOutcome) => {
  const [note] = stripe.creditNotesOf(o.customer!);
  const invoice = stripe.invoicesOf(o.customer!).find((i) => i.subscription)!;
  expect(note).toMatchObject({
    invoice: invoice.id,
    amount,
    pre_payment_amount: split.pre,
    post_payment_amount: split.credit,
    refunds: [],
    metadata: { idempotency_key: `billing.${o.record.id}.apply` },
  });
  const post = writesOf(o).find((w) => w.path === '/v1/credit_notes')!;
  expect(post.idempotencyKey).toBe(`billing.${o.record.id}.apply.cn`);
  expect(post.params).toEqual({
    invoice: invoice.id,
    amount: String(amount),
    ...(split.credit ? { credit_amount: String(split.credit) } : {}),
    memo: expect.any(String),
    metadata: expect.objectContaining({ idempotency_key: `billing.${o.record.id}.apply` }),
  });
  expect(stripe.customers.get(o.customer!)!.balance).toBe(0 - split.credit || 0);
  expect(o.ledgerBalance).toBe(0 - split.credit || 0);
  expect(invoice.amount_remaining).toBe(invoice.status === 'paid' ? 0 : invoice.total - split.pre);
};

const terminated =
  (fee: number, refund: number, scheduled = false) =>
  async (o: RowOutcome) => {
    const sub = subOf(o);
    expect(sub.status).toBe('canceled');
    expect(o.account).toMatchObject({ status: 'deactivated', mrr_minor: 0 });
    expect(o.book).toMatchObject({ status: 'canceled' });
    if (scheduled) {
      const at = writesOf(o).find((w) => w.idempotencyKey === `billing.${o.record.id}.schedule.sub`)!;
      expect(at.params).toEqual({ cancel_at: String(unix(o.record.effective_at)), proration_behavior: 'none' });
    } else {
      expect(writesOf(o).find((w) => w.method === 'DELETE')).toMatchObject({
        query: { prorate: 'false', invoice_now: 'false' },
        idempotencyKey: null,
        status: 200,
      });
    }
    const feeInvoice = stripe.invoicesOf(o.customer!).find((i) => i.metadata.idempotency_key === `billing.${o.record.id}.fee`);
    if (fee) {
      expect(feeInvoice).toMatchObject({
        status: 'open',
        total: fee,
        subscription: null,
        lines: [{ amount: fee, invoice_item: expect.stringMatching(/^ii_/) }],
      });
      expect(keys(o).filter(([, path]) => !String(path).startsWith('/v1/subscriptions') && String(path) !== '/v1/credit_notes')).toEqual([
        ['POST', '/v1/invoices', `billing.${o.record.id}.fee.inv`],
        ['POST', '/v1/invoiceitems', `billing.${o.record.id}.fee.ii`],
        ['POST', '/v1/invoices/in_*/finalize', `billing.${o.record.id}.fee.fin`],
      ]);
    } else {
      expect(feeInvoice).toBeUndefined();
    }
    const notes = stripe.creditNotesOf(o.customer!);
    if (refund) {
      const paid = stripe.invoicesOf(o.customer!).find((i) => i.subscription)!;
      expect(notes).toMatchObject([
        {
          invoice: paid.id,
          amount: refund,
          post_payment_amount: refund,
          refunds: [{ amount_refunded: refund }],
          metadata: { idempotency_key: `billing.${o.record.id}.refund` },
        },
      ]);
      expect(stripe.refunds.filter((r) => r.invoice === paid.id)).toMatchObject([{ amount: refund }]);
    } else {
      expect(notes).toEqual([]);
    }
    const legs: Leg[] = [];
    if (fee) legs.push([`receivable:${o.account.id}`, fee, 0], ['revenue:fees', 0, fee]);
    if (refund) legs.push(['contra:refunds', refund, 0], ['cash:refunds', 0, refund]);
    expect(await legsOf(o.record.id)).toEqual(legs);
  };

const endsAtPeriodEnd = (status: string) => async (o: RowOutcome) => {
  const sub = subOf(o);
  expect(sub).toMatchObject({ status: 'active', cancel_at_period_end: true });
  expect(writesOf(o).find((w) => w.idempotencyKey === `billing.${o.record.id}.apply.sub`)!.params).toEqual({ cancel_at_period_end: 'true' });
  expect(o.account).toMatchObject({ status, mrr_minor: 0 });
  expect(o.book).toMatchObject({ status: 'active', cancel_at: new Date(sub.current_period_end * 1000).toISOString() });
};

const EXPECT: Record<string, (o: RowOutcome) => Promise<void>> = {
  'downgrade/subscription': planMoved('starter', false),
  'downgrade/feature': noStripeCall,
  'downgrade/sla': planMoved('starter', false),
  'downgrade/contractual': async (o) => {
    expect(o.outcome).toBe('scheduled');
    const sub = subOf(o);
    // Moved when scheduled, without prorating; the renewal Stripe made at the term end billed the new price.
    expect(writesOf(o).map((w) => w.idempotencyKey)).toEqual([`billing.${o.record.id}.schedule.sub`]);
    expect(writesOf(o)[0]!.params).toMatchObject({ items: [{ price: 'price_starter_eur' }], proration_behavior: 'none' });
    expect(sub.items[0]!.price).toBe('price_starter_eur');
    const renewal = stripe
      .invoicesOf(o.customer!)
      .filter((i) => i.subscription)
      .at(-1)!;
    expect(renewal.lines.map((l) => l.amount)).toEqual([2900]);
    expect(o.book).toMatchObject({ plan_id: 'starter', next_plan_id: null });
  },
  'downgrade/support_tier': noStripeCall,
  'upgrade/subscription': planMoved('business', true),
  'upgrade/support_tier': noStripeCall,
  'upgrade/product': planMoved('enterprise', true),
  'upgrade/pricing_model': async (o) => {
    expect(o.outcome).toBe('scheduled');
    // A prorated change is not sent early: only at its instant, prorated from it.
    expect(writesOf(o).map((w) => w.idempotencyKey)).toEqual([`billing.${o.record.id}.apply.sub`]);
    await planMoved('business', true)(o);
  },
  'upgrade/sla': planMoved('business', true),
  'upgrade/access': noStripeCall,
  'termination/customer_initiated': terminated(50000, 1000),
  'termination/non_payment': terminated(0, 0),
  'termination/breach': async (o) => {
    expect(o.outcome).toBe('scheduled');
    await terminated(50000, 0, true)(o);
  },
  'termination/other': terminated(0, 500),
  'status_change/activation': async (o) => {
    const [sub] = stripe.subscriptionsOf(o.customer!);
    expect(sub).toMatchObject({ status: 'active', items: [{ price: 'price_growth_eur' }], metadata: { idempotency_key: `billing.${o.record.id}.apply` } });
    expect(keys(o)).toEqual([['POST', '/v1/subscriptions', `billing.${o.record.id}.apply.new`]]);
    expect(o.account).toMatchObject({ status: 'active', mrr_minor: 9900 });
    expect(o.book).toMatchObject({ status: 'active', plan_id: 'growth' });
  },
  'status_change/suspension': async (o) => {
    const review = (o.record.details.suspension as { review_date: string }).review_date;
    const resumes = unix(`${review}T00:00:00Z`);
    expect(subOf(o).pause_collection).toEqual({ behavior: 'void', resumes_at: resumes });
    expect(writesOf(o)[0]!.params).toEqual({ pause_collection: { behavior: 'void', resumes_at: String(resumes) } });
    expect(o.account).toMatchObject({ status: 'suspended', mrr_minor: 0 });
    expect(o.book).toMatchObject({ status: 'paused', pause_resumes_at: `${review}T00:00:00.000Z` });
  },
  'status_change/deactivation': endsAtPeriodEnd('deactivated'),
  'status_change/reactivation': async (o) => {
    expect(subOf(o).pause_collection).toBeNull();
    expect(writesOf(o).at(-1)!.params).toEqual({ pause_collection: '' });
    expect(o.account).toMatchObject({ status: 'active', mrr_minor: 9900 });
    expect(o.book).toMatchObject({ status: 'active', pause_resumes_at: null });
  },
  'status_change/merge': async (o) => {
    await endsAtPeriodEnd('merged')(o);
    expect(stripe.customers.get(o.customer!)!.balance).toBe(0);
    expect(stripe.customers.get(o.targetCustomer!)!.balance).toBe(-80);
    expect(stripe.balanceTransactionsOf(o.targetCustomer!)).toMatchObject([
      { amount: -80, type: 'adjustment', metadata: { idempotency_key: `billing.${o.record.id}.apply` } },
    ]);
    expect(keys(o).map((k) => k[2])).toEqual([`billing.${o.record.id}.apply.sub`, `billing.${o.record.id}.apply.src`, `billing.${o.record.id}.apply.dst`]);
    expect(o.ledgerBalance).toBe(0);
    expect(
      await t
        .db('ledger_balances')
        .where({ ledger_account: `balance:${o.target!.id}` })
        .first(),
    ).toMatchObject({ balance_minor: '-80' });
    expect(await t.db('audit_events').where({ account_id: o.target!.id, type: 'account.merged_in' })).toHaveLength(1);
    expect((await verifyAudit(t.db, o.target!.id)).broken).toBeNull();
  },
  'status_change/closure': endsAtPeriodEnd('closed'),
  'service_credit/outage': creditNote(300, { pre: 0, credit: 300 }),
  'service_credit/sla_breach': creditNote(250, { pre: 250, credit: 0 }),
  'service_credit/billing_discrepancy': async (o) => {
    expect(stripe.creditNotesOf(o.customer!)).toEqual([]);
    expect(stripe.balanceTransactionsOf(o.customer!)).toMatchObject([
      { amount: -200, currency: 'eur', type: 'adjustment', metadata: { idempotency_key: `billing.${o.record.id}.apply` } },
    ]);
    expect(keys(o)).toEqual([['POST', '/v1/customers/cus_*/balance_transactions', `billing.${o.record.id}.apply.bal`]]);
    expect(o.ledgerBalance).toBe(-200);
  },
  'service_credit/delay': creditNote(150, { pre: 0, credit: 150 }),
  'service_credit/goodwill': creditNote(100, { pre: 0, credit: 100 }),
};

it('has one test for every row of the billing-effects table', () => {
  expect(Object.keys(EXPECT).sort()).toEqual(BILLING_EFFECTS_TABLE.map((r) => `${r.kind}/${r.subtype}`).sort());
});

describe.each(ROW_SCENARIOS.map((r) => [`${r.kind}/${r.subtype}`, r] as const))('stripe: %s', (key, row) => {
  it('does what the table says at Stripe, and reconcile finds nothing to report', async () => {
    const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
    const o = await row.run(ctx);
    await EXPECT[key]!(o);
    expect(stripe.duplicatedEffects()).toEqual([]);
    expect(stripe.requests.every((r) => r.stripeVersion === Stripe.API_VERSION)).toBe(true);
    expect(
      stripe
        .writes()
        .filter((w) => w.method === 'POST')
        .every((w) => w.idempotencyKey?.startsWith('billing.')),
    ).toBe(true);
    expect(o.reconcile.differences).toEqual([]);
  });
});
