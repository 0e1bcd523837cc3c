import fs from 'node:fs';
import path from 'node:path';
import { ALL_SUBTYPES, BILLING_EFFECTS_TABLE, billingEffectsFor, billingEffectsMarkdown, bookAfter, implicitBook, legsFor } from '../../src/records/billing';
import type { BillingBook, ConfirmedMoney } from '../../src/records/billing';
import { accountAfterExternalChange, accountChangesFor } from '../../src/records/apply';
import { reconcileAccount } from '../../src/records/reconcile';
import { assessRequest } from '../../src/records/validation';
import type { Kind, LifecycleRecord, RecordRequest } from '../../src/records/kinds';
import { webhookEventSchemasMarkdown } from '../../src/integrations/billing/webhook.events';
import { NOW, buildAccount, buildCatalog, buildRequest } from '../helpers/builders';

const README = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
const catalog = buildCatalog();

/** A record as validation would make it from a request, for the default account. */
function recordFrom(request: RecordRequest, account = buildAccount()): LifecycleRecord {
  const a = assessRequest(request, {
    account,
    catalog,
    now: NOW,
    relatedAccounts: new Map([['acc_target', buildAccount({ id: 'acc_target', billing_customer_id: 'cus_target' })]]),
  });
  expect(a.problems).toEqual([]);
  return {
    id: 'rec_1',
    kind: request.kind,
    subtype: request.subtype,
    account_id: request.account_id,
    ticket_id: null,
    requested_by: 'agent',
    requester: null,
    reason_code: 'x',
    reason_text: '',
    effective: a.effective,
    effective_at: a.effective_at,
    state: 'applying',
    version: 3,
    details: a.details,
    amount: a.amount,
    risk_flags: [],
    problems: [],
    created_at: NOW.toISOString(),
    updated_at: NOW.toISOString(),
  };
}

/** One valid request per (kind, subtype) that exercises every effect its row names. */
const REQUESTS: Record<string, () => [RecordRequest, Parameters<typeof buildAccount>[0]?]> = {
  'downgrade/subscription': () => [buildRequest('downgrade', { details: { to_plan: 'starter' } })],
  'downgrade/feature': () => [buildRequest('downgrade', { subtype: 'feature', details: { to_plan: 'starter', features: ['sso'] } })],
  'downgrade/sla': () => [buildRequest('downgrade', { subtype: 'sla', details: { to_plan: 'starter' } })],
  'downgrade/contractual': () => [buildRequest('downgrade', { subtype: 'contractual', details: { to_plan: 'starter' } })],
  'downgrade/support_tier': () => [buildRequest('downgrade', { subtype: 'support_tier', details: { to_support_tier: 'standard', to_plan: 'starter' } })],
  'upgrade/subscription': () => [buildRequest('upgrade', { details: { to_plan: 'business' } })],
  'upgrade/support_tier': () => [buildRequest('upgrade', { subtype: 'support_tier', details: { to_support_tier: 'premium', to_plan: 'business' } })],
  'upgrade/product': () => [buildRequest('upgrade', { subtype: 'product', details: { to_plan: 'business' } })],
  'upgrade/pricing_model': () => [buildRequest('upgrade', { subtype: 'pricing_model', details: { to_plan: 'business' } })],
  'upgrade/sla': () => [buildRequest('upgrade', { subtype: 'sla', details: { to_plan: 'business' } })],
  'upgrade/access': () => [buildRequest('upgrade', { subtype: 'access', details: { to_plan: 'business' } })],
  'termination/customer_initiated': () => [
    buildRequest('termination', { effective: 'immediate', details: { refund: { amount_minor: 100, currency: 'EUR' } } }),
  ],
  'termination/non_payment': () => [
    buildRequest('termination', { subtype: 'non_payment', effective: 'immediate', details: { refund: { amount_minor: 100, currency: 'EUR' } } }),
  ],
  'termination/breach': () => [
    buildRequest('termination', { subtype: 'breach', effective: 'immediate', details: { refund: { amount_minor: 100, currency: 'EUR' } } }),
  ],
  'termination/other': () => [
    buildRequest('termination', { subtype: 'other', effective: 'immediate', details: { refund: { amount_minor: 100, currency: 'EUR' } } }),
  ],
  'status_change/activation': () => [buildRequest('status_change', { subtype: 'activation', details: {} }), { status: 'pending' }],
  'status_change/suspension': () => [buildRequest('status_change')],
  'status_change/deactivation': () => [buildRequest('status_change', { subtype: 'deactivation', details: {} })],
  'status_change/reactivation': () => [buildRequest('status_change', { subtype: 'reactivation', details: {} }), { status: 'suspended' }],
  'status_change/merge': () => [
    buildRequest('status_change', { subtype: 'merge', details: { merge: { source_account_id: 'acc_acme', target_account_id: 'acc_target' } } }),
  ],
  'status_change/closure': () => [buildRequest('status_change', { subtype: 'closure', details: {} })],
  'service_credit/outage': () => [buildRequest('service_credit', { subtype: 'outage' })],
  'service_credit/sla_breach': () => [buildRequest('service_credit', { subtype: 'sla_breach' })],
  'service_credit/billing_discrepancy': () => [buildRequest('service_credit', { subtype: 'billing_discrepancy' })],
  'service_credit/delay': () => [buildRequest('service_credit', { subtype: 'delay' })],
  'service_credit/goodwill': () => [buildRequest('service_credit', { subtype: 'goodwill' })],
};

describe('the billing-effects table', () => {
  it('has exactly one row per kind and subtype of the domain (all 26)', () => {
    const rows = BILLING_EFFECTS_TABLE.map((r) => `${r.kind}/${r.subtype}`);
    expect(rows).toHaveLength(26);
    expect(new Set(rows).size).toBe(26);
    expect(rows.sort()).toEqual(ALL_SUBTYPES.map((s) => `${s.kind}/${s.subtype}`).sort());
    for (const r of BILLING_EFFECTS_TABLE) for (const p of ['ledger', 'stripe', 'webhook'] as const) expect(r[p].length).toBeGreaterThan(10);
  });

  it('is in the README exactly as the code renders it', () => {
    expect(README).toContain(billingEffectsMarkdown());
  });

  it('the README shows the JSON schema of every webhook event type', () => {
    expect(README).toContain(webhookEventSchemasMarkdown());
  });

  it.each(Object.entries(REQUESTS))('%s: the code plans exactly the effects its row names', (key, build) => {
    const [request, account] = build();
    const row = BILLING_EFFECTS_TABLE.find((r) => `${r.kind}/${r.subtype}` === key)!;
    const target = buildAccount({ id: 'acc_target', billing_customer_id: 'cus_target' });
    const effects = billingEffectsFor(recordFrom(request, buildAccount(account)), buildAccount(account), catalog, target);
    expect(effects.map((e) => e.effect.type).sort()).toEqual([...row.effects].sort());
    // Each effect its own key; a termination's money apart from the change.
    expect(new Set(effects.map((e) => e.key)).size).toBe(effects.length);
  });

  it('support-tier and feature moves without a plan plan nothing at the provider', () => {
    for (const [kind, subtype, details] of [
      ['downgrade', 'support_tier', { to_support_tier: 'standard' }],
      ['downgrade', 'feature', { features: ['sso'] }],
      ['upgrade', 'access', { features: ['audit_log'] }],
    ] as const) {
      const record = recordFrom(buildRequest(kind as Kind, { subtype, details } as never));
      expect(billingEffectsFor(record, buildAccount(), catalog)).toEqual([]);
    }
  });

  it('a termination names its fee and refund under their own keys, and waived means no fee', () => {
    const record = recordFrom(buildRequest('termination', { effective: 'immediate', details: { refund: { amount_minor: 100, currency: 'EUR' } } }));
    expect(billingEffectsFor(record, buildAccount(), catalog).map((e) => [e.key, e.effect.type, e.secondary])).toEqual([
      ['apply', 'cancel', false],
      ['fee', 'fee', true],
      ['refund', 'refund', true],
    ]);
    const waived = recordFrom(buildRequest('termination', { effective: 'immediate', details: { fee_waived: true } }));
    expect(billingEffectsFor(waived, buildAccount(), catalog).map((e) => e.key)).toEqual(['apply']);
  });
});

describe('the billing book', () => {
  const book: BillingBook = implicitBook(buildAccount());
  const now = NOW;

  it("follows the provider's facts over the effect's own", () => {
    const cancel = { type: 'cancel' as const, mode: 'period_end' as const, at: null };
    expect(bookAfter(book, cancel, 'apply', { cancel_at: '2026-04-15T00:00:00.000Z' }, now).cancel_at).toBe('2026-04-15T00:00:00.000Z');
    expect(bookAfter(book, cancel, 'apply', { status: 'canceled' }, now).status).toBe('canceled');
  });

  it('forgets a plan told for the next period once the subscription ends, or a new one bills another', () => {
    const told = { ...book, next_plan_id: 'starter' };
    expect(bookAfter(told, { type: 'cancel', mode: 'now', at: null }, 'apply', undefined, now).next_plan_id).toBeNull();
    const resume = { type: 'resume' as const, plan: 'growth', price: null };
    expect(bookAfter(told, resume, 'apply', { plan: 'starter' }, now).next_plan_id).toBe('starter');
    expect(bookAfter(told, resume, 'apply', { plan: 'growth' }, now).next_plan_id).toBeNull();
  });
});

describe('ledger legs', () => {
  it('balance for every kind of money, and land where the provider put it', () => {
    const eur = (amount_minor: number) => ({ amount_minor, currency: 'EUR' });
    const money: ConfirmedMoney[] = [
      { type: 'charge', purpose: 'fee', amount: eur(500), destination: 'invoice' },
      { type: 'credit', purpose: 'service_credit', amount: eur(100), destination: 'invoice' },
      { type: 'credit', purpose: 'service_credit', amount: eur(200), destination: 'balance' },
      { type: 'credit', purpose: 'service_credit', amount: eur(300), destination: 'payment' },
      { type: 'refund', purpose: 'termination_refund', amount: eur(50), destination: 'payment' },
      { type: 'transfer', purpose: 'merge_balance', amount: eur(70), destination: 'balance', to_account_id: 'b' },
    ];
    const legs = legsFor('a', money);
    expect(legs.reduce((s, l) => s + l.debit_minor - l.credit_minor, 0)).toBe(0);
    const net = (acc: string) => legs.filter((l) => l.ledger_account === acc).reduce((s, l) => s + l.debit_minor - l.credit_minor, 0);
    expect(net('receivable:a')).toBe(400);
    expect(net('balance:a')).toBe(-200 + 70);
    expect(net('balance:b')).toBe(-70);
    expect(net('cash:refunds')).toBe(-350);
    expect(net('revenue:fees')).toBe(-500);
  });
});

describe('account changes', () => {
  it('a reactivation or activation sets MRR again from the plan price (a suspension set it to 0)', () => {
    const suspended = accountChangesFor(recordFrom(buildRequest('status_change')), buildAccount(), catalog, null).account;
    expect(suspended).toMatchObject({ status: 'suspended', mrr_minor: 0 });
    const back = accountChangesFor(
      recordFrom(buildRequest('status_change', { subtype: 'reactivation', details: {} }), suspended),
      suspended,
      catalog,
      null,
    ).account;
    expect(back).toMatchObject({ status: 'active', mrr_minor: 9900 });
  });

  it('follows a change made at the provider', () => {
    const a = buildAccount();
    expect(accountAfterExternalChange(a, { plan: 'business', status: 'active' }, catalog)).toMatchObject({
      plan_id: 'business',
      mrr_minor: 29900,
      status: 'active',
    });
    expect(accountAfterExternalChange(a, { plan: null, status: 'canceled' }, catalog)).toMatchObject({ status: 'deactivated', mrr_minor: 0 });
    expect(accountAfterExternalChange(a, { plan: null, status: 'paused' }, catalog)).toMatchObject({ status: 'suspended', mrr_minor: 0 });
    expect(accountAfterExternalChange({ ...a, status: 'suspended', mrr_minor: 0 }, { plan: null, status: 'active' }, catalog)).toMatchObject({
      status: 'active',
      mrr_minor: 9900,
    });
    expect(accountAfterExternalChange({ ...a, status: 'closed' }, { plan: null, status: 'canceled' }, catalog).status).toBe('closed');
  });
});

describe('reconcileAccount', () => {
  const account = buildAccount();
  const ledgerBalance = { amount_minor: 0, currency: 'EUR' };
  const live = { id: 'sub_1', plan: 'growth', cancel_at: null, paused: false, pause_resumes_at: null };

  it('finds nothing when the three agree, and each kind of difference when they do not', () => {
    expect(
      reconcileAccount({ account, book: null, ledgerBalance, provider: { subscription: live, planSubscriptions: 1, balance: ledgerBalance } }, NOW),
    ).toEqual([]);
    const fields = (provider: Parameters<typeof reconcileAccount>[0]['provider'], book: BillingBook | null = null, acc = account) =>
      reconcileAccount({ account: acc, book, ledgerBalance, ...(provider !== undefined ? { provider } : {}) }, NOW).map((d) => d.field);
    expect(fields({ subscription: { ...live, plan: 'business' }, planSubscriptions: 1, balance: ledgerBalance })).toEqual(['plan']);
    expect(fields({ subscription: { ...live, cancel_at: '2026-04-01T00:00:00.000Z' }, planSubscriptions: 1, balance: ledgerBalance })).toEqual(['cancel_at']);
    expect(fields({ subscription: { ...live, paused: true }, planSubscriptions: 1, balance: ledgerBalance })).toEqual(['pause']);
    expect(fields({ subscription: null, planSubscriptions: 0, balance: ledgerBalance })).toEqual(['status']);
    expect(fields({ subscription: live, planSubscriptions: 1, balance: { amount_minor: -500, currency: 'EUR' } })).toEqual(['balance']);
    expect(fields({ subscription: null, planSubscriptions: 2, balance: ledgerBalance })).toEqual(['subscription']);
    // The accounts table against the book, with no provider to read.
    expect(fields(undefined, { ...implicitBook(account), plan_id: 'business' })).toEqual(['plan']);
    expect(fields(undefined, null, { ...account, status: 'suspended' })).toEqual([]);
    expect(
      fields(undefined, { ...implicitBook(account), status: 'paused', pause_resumes_at: '2026-03-01T00:00:00.000Z' }, { ...account, status: 'suspended' }),
    ).toEqual(['status']);
    expect(fields(undefined, implicitBook(account), { ...account, status: 'deactivated' })).toEqual(['status']);
  });
});
