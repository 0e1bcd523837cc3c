import { BILLING_EFFECTS_TABLE } from '../../src/records/billing';
import { verifyAudit } from '../../src/db/audit.queries';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock } from '../helpers/app';
import { ROW_SCENARIOS, ledgerHarness } from '../helpers/billing-rows';
import type { Harness, RowContext, RowOutcome } from '../helpers/billing-rows';

/**
 * The billing-effects table, ledger column: one test per row. The built-in ledger is the
 * provider; its state is the billing book and the double-entry postings, written in the
 * transaction that records each effect.
 */
let t: TestDb;
let h: Harness;
beforeAll(async () => {
  t = await createTestDb();
  h = await ledgerHarness(t);
});
afterAll(async () => {
  await h.close();
  await t.destroy();
});

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

const proration = (o: RowOutcome): Leg[] => {
  const p = o.record.details.proration as { credit: { amount_minor: number }; charge: { amount_minor: number } };
  return [
    ['contra:plan_credits', -p.credit.amount_minor, 0],
    [`receivable:${o.account.id}`, 0, -p.credit.amount_minor],
    [`receivable:${o.account.id}`, p.charge.amount_minor, 0],
    ['revenue:subscriptions', 0, p.charge.amount_minor],
  ];
};

const planMoved = (plan: string, mrr: number, prorated: boolean) => async (o: RowOutcome) => {
  expect(o.account).toMatchObject({ plan_id: plan, mrr_minor: mrr });
  expect(o.book).toMatchObject({ plan_id: plan, next_plan_id: null, status: 'active' });
  expect(await legsOf(o.record.id)).toEqual(prorated ? proration(o) : []);
};

const nothingBilled = async (o: RowOutcome) => {
  expect(o.book).toBeNull();
  expect(o.account.plan_id).toBe(o.accountBefore.plan_id);
  expect(await t.db('billing_adjustments').where({ record_id: o.record.id })).toEqual([]);
  expect(await legsOf(o.record.id)).toEqual([]);
};

const credited = (amount: number) => async (o: RowOutcome) => {
  expect(await legsOf(o.record.id)).toEqual([
    ['contra:service_credits', amount, 0],
    [`balance:${o.account.id}`, 0, amount],
  ]);
  expect(o.ledgerBalance).toBe(-amount);
};

const ended = (fee: number, refund: number) => async (o: RowOutcome) => {
  expect(o.book).toMatchObject({ status: 'canceled', cancel_at: null });
  expect(o.account).toMatchObject({ status: 'deactivated', mrr_minor: 0 });
  const legs: Leg[] = [];
  if (fee) legs.push([`receivable:${o.account.id}`, fee, 0], ['revenue:fees', 0, fee]);
  if (refund) legs.push(['contra:refunds', refund, 0], ['cash:refunds', 0, refund]);
  expect(await legsOf(o.record.id)).toEqual(legs);
  const keys = (await t.db('billing_adjustments').where({ record_id: o.record.id }).orderBy('idempotency_key')).map(
    (r: { idempotency_key: string; status: string }) => [r.idempotency_key, r.status],
  );
  expect(keys).toEqual([
    [`billing.${o.record.id}.apply`, 'succeeded'],
    ...(fee ? [[`billing.${o.record.id}.fee`, 'succeeded']] : []),
    ...(refund ? [[`billing.${o.record.id}.refund`, 'succeeded']] : []),
  ]);
};

const endsAtTermEnd = (status: string) => async (o: RowOutcome) => {
  expect(o.account).toMatchObject({ status, mrr_minor: 0 });
  expect(o.book).toMatchObject({ status: 'active', cancel_at: new Date(o.account.term_end).toISOString() });
};

const EXPECT: Record<string, (o: RowOutcome) => Promise<void>> = {
  'downgrade/subscription': planMoved('starter', 2900, false),
  'downgrade/feature': nothingBilled,
  'downgrade/sla': planMoved('starter', 2900, false),
  'downgrade/contractual': async (o) => {
    expect(o.outcome).toBe('scheduled');
    await planMoved('starter', 2900, false)(o);
  },
  'downgrade/support_tier': async (o) => {
    await nothingBilled(o);
    expect(o.account.support_tier).toBe('standard');
  },
  'upgrade/subscription': planMoved('business', 29900, true),
  'upgrade/support_tier': async (o) => {
    await nothingBilled(o);
    expect(o.account.support_tier).toBe('premium');
  },
  'upgrade/product': planMoved('enterprise', 99900, true),
  'upgrade/pricing_model': async (o) => {
    expect(o.outcome).toBe('scheduled');
    await planMoved('business', 29900, true)(o);
  },
  'upgrade/sla': planMoved('business', 29900, true),
  'upgrade/access': nothingBilled,
  'termination/customer_initiated': ended(50000, 1000),
  'termination/non_payment': ended(0, 0),
  'termination/breach': async (o) => {
    expect(o.outcome).toBe('scheduled');
    await ended(50000, 0)(o);
  },
  'termination/other': ended(0, 500),
  'status_change/activation': async (o) => {
    expect(o.account).toMatchObject({ status: 'active', mrr_minor: 9900 });
    expect(o.book).toMatchObject({ status: 'active', plan_id: 'growth', cancel_at: null, pause_resumes_at: null });
  },
  'status_change/suspension': async (o) => {
    expect(o.account).toMatchObject({ status: 'suspended', mrr_minor: 0 });
    const review = (o.record.details.suspension as { review_date: string }).review_date;
    expect(o.book).toMatchObject({ status: 'paused', pause_resumes_at: `${review}T00:00:00.000Z` });
  },
  'status_change/deactivation': endsAtTermEnd('deactivated'),
  'status_change/reactivation': async (o) => {
    expect(o.accountBefore).toMatchObject({ status: 'suspended', mrr_minor: 0 });
    // MRR is set again from the plan price: a reactivated account is not a non-paying one.
    expect(o.account).toMatchObject({ status: 'active', mrr_minor: 9900 });
    expect(o.book).toMatchObject({ status: 'active', pause_resumes_at: null, cancel_at: null });
  },
  'status_change/merge': async (o) => {
    await endsAtTermEnd('merged')(o);
    expect(o.ledgerBalance).toBe(0);
    expect(
      await t
        .db('ledger_balances')
        .where({ ledger_account: `balance:${o.target!.id}` })
        .first(),
    ).toMatchObject({ balance_minor: '-80' });
    expect(await legsOf(o.record.id)).toEqual([
      [`balance:${o.account.id}`, 80, 0],
      [`balance:${o.target!.id}`, 0, 80],
    ]);
    // The target's revenue is its own plan's; the source's subscription ends at its period end.
    expect(o.target).toMatchObject({ mrr_minor: 29900, contacts: ['b@target.example', 'a@source.example'] });
    const inTarget = await t.db('audit_events').where({ account_id: o.target!.id, record_id: o.record.id });
    expect(inTarget.map((e: { type: string; data: unknown }) => [e.type, e.data])).toEqual([
      [
        'account.merged_in',
        {
          source_account_id: o.account.id,
          balance_moved: { amount_minor: 80, currency: 'EUR' },
          provider: 'ledger',
          provider_ref: `ledger:billing.${o.record.id}.apply`,
        },
      ],
    ]);
    expect((await verifyAudit(t.db, o.target!.id)).broken).toBeNull();
  },
  'status_change/closure': endsAtTermEnd('closed'),
  'service_credit/outage': credited(300),
  'service_credit/sla_breach': credited(250),
  'service_credit/billing_discrepancy': credited(200),
  'service_credit/delay': credited(150),
  'service_credit/goodwill': credited(100),
};

it('has one test for every row of the billing-effects table', () => {
  expect(Object.keys(EXPECT).sort()).toEqual(BILLING_EFFECTS_TABLE.map((r) => `${r.kind}/${r.subtype}`).sort());
  expect(ROW_SCENARIOS.map((r) => `${r.kind}/${r.subtype}`).sort()).toEqual(Object.keys(EXPECT).sort());
});

describe.each(ROW_SCENARIOS.map((r) => [`${r.kind}/${r.subtype}`, r] as const))('ledger: %s', (key, row) => {
  it('does what the table says, and reconcile finds nothing to report', async () => {
    const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
    const o = await row.run(ctx);
    await EXPECT[key]!(o);
    expect(o.reconcile.differences).toEqual([]);
    expect((await verifyAudit(t.db, o.account.id)).broken).toBeNull();
  });
});
