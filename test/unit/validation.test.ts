import type { Account } from '../../src/records/accounts';
import { parseCatalog } from '../../src/records/catalog';
import type { Catalog } from '../../src/records/catalog';
import { AppError } from '../../src/records/errors';
import { RecordRequestSchema } from '../../src/records/kinds';
import type { RecordRequest } from '../../src/records/kinds';
import { money } from '../../src/records/money';
import { prorate } from '../../src/records/proration';
import { assertValid, assessRequest } from '../../src/records/validation';
import type { AssessContext, Assessment } from '../../src/records/validation';
import { buildAccount, buildCatalog, buildRequest, CATALOG_FILE, catalogJsonWith, NOW } from '../helpers/builders';
import type { BreakableJson } from '../helpers/builders';

const catalog = buildCatalog();

function assess(request: RecordRequest, ctx: Partial<AssessContext> = {}): Assessment {
  return assessRequest(request, { account: buildAccount(), catalog, now: NOW, ...ctx });
}

const fields = (a: Assessment): string[] => a.problems.map((p) => p.field);

const catalogWith = (change: (json: BreakableJson) => void): Catalog => parseCatalog(catalogJsonWith(change), CATALOG_FILE);

describe('any kind', () => {
  it('names account_id when the account is unknown', () => {
    const a = assess(buildRequest('downgrade', { account_id: 'acc_ghost' }), { account: null });
    expect(fields(a)).toEqual(['account_id']);
    expect(a.problems[0]!.message).toBe('no account "acc_ghost"; import it with `lifecycle-desk accounts import` or check the id');
    expect(a.effective_at).toBeNull();
  });

  it('accepts an effective date from today on', () => {
    const a = assess(buildRequest('status_change', { effective: '2026-03-16' }));
    expect(a.problems).toEqual([]);
    expect(a.effective_at).toBe('2026-03-16T00:00:00.000Z');
  });

  it('refuses an effective date in the past', () => {
    const a = assess(buildRequest('status_change', { effective: '2026-03-15' }));
    expect(fields(a)).toEqual(['effective']);
    expect(a.problems[0]!.message).toContain('in the past');
  });

  it('assertValid passes an assessment without problems', () => {
    expect(() => assertValid(assess(buildRequest('downgrade')))).not.toThrow();
  });

  it('assertValid throws validation_failed carrying the problems', () => {
    const a = assess(buildRequest('downgrade', { details: { to_plan: 'enterprise' } }));
    let thrown: unknown;
    try {
      assertValid(a);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AppError);
    expect((thrown as AppError).code).toBe('validation_failed');
    expect((thrown as AppError).problems).toEqual(a.problems);
    expect((thrown as AppError).message).toContain('details.to_plan:');
  });

  it.each([
    buildRequest('downgrade'),
    buildRequest('downgrade', { subtype: 'feature', details: { features: ['sso'] } }),
    buildRequest('upgrade'),
    buildRequest('upgrade', { subtype: 'support_tier', details: { to_support_tier: 'premium' } }),
    buildRequest('termination', { details: { termination_date: '2026-03-20' } }),
    buildRequest('status_change', { subtype: 'closure', details: {} }),
    buildRequest('service_credit', {
      subtype: 'outage',
      details: { ...buildRequest('service_credit').details, measured_uptime_percent: 98 },
    }),
  ])('enriched details of a valid $kind/$subtype still match the kind schema', (request) => {
    const a = assess(request);
    expect(a.problems).toEqual([]);
    const reparsed = RecordRequestSchema.parse({ ...request, effective: a.effective, details: a.details });
    expect(reparsed.details).toEqual(a.details);
  });
});

describe('downgrade', () => {
  it('a subscription downgrade to a lower plan passes, priced and scheduled for the end of term', () => {
    const a = assess(buildRequest('downgrade', { details: { to_plan: 'starter' } }));
    expect(a.problems).toEqual([]);
    expect(a.effective).toBe('end_of_term');
    expect(a.effective_at).toBe('2026-04-01T00:00:00.000Z');
    expect(a.amount).toEqual(money(-7000, 'EUR'));
    expect(a.details).toEqual({
      from_plan: 'growth',
      to_plan: 'starter',
      features: ['sso', 'analytics'],
      sla_before: catalog.plans[2]!.sla,
      sla_after: catalog.plans[1]!.sla,
      price_delta: money(-7000, 'EUR'),
    });
  });

  it('refuses a "downgrade" to a higher plan', () => {
    const a = assess(buildRequest('downgrade', { details: { to_plan: 'business' } }));
    expect(fields(a)).toEqual(['details.to_plan']);
    expect(a.problems[0]!.message).toBe(
      '"business" is not lower than the current plan "growth" (tier 2 → 3, expected lower); pick a lower plan or file an upgrade',
    );
  });

  it('refuses the plan the account already has', () => {
    expect(fields(assess(buildRequest('downgrade', { details: { to_plan: 'growth' } })))).toEqual(['details.to_plan']);
  });

  it('refuses an unknown plan, listing the known ones', () => {
    const a = assess(buildRequest('downgrade', { details: { to_plan: 'basic' } }));
    expect(fields(a)).toEqual(['details.to_plan']);
    expect(a.problems[0]!.message).toContain('expected one of: free, starter, growth, business, enterprise');
  });

  it('requires to_plan for a subscription downgrade', () => {
    expect(fields(assess(buildRequest('downgrade', { details: {} })))).toEqual(['details.to_plan']);
  });

  it('refuses a from_plan that is not the account plan', () => {
    const a = assess(buildRequest('downgrade', { details: { from_plan: 'business', to_plan: 'starter' } }));
    expect(fields(a)).toEqual(['details.from_plan']);
  });

  it('accepts a from_plan equal to the account plan', () => {
    expect(assess(buildRequest('downgrade', { details: { from_plan: 'growth', to_plan: 'starter' } })).problems).toEqual([]);
  });

  it('refuses a target plan with no price in the account currency', () => {
    const withoutChf = catalogWith((c) => (c.plans[2].prices.CHF = 9000));
    const a = assess(buildRequest('downgrade', { details: { to_plan: 'starter' } }), { catalog: withoutChf, account: buildAccount({ currency: 'CHF' }) });
    expect(fields(a)).toEqual(['details.to_plan']);
    expect(a.problems[0]!.message).toContain('no price in CHF');
  });

  it('prices in the account currency (JPY)', () => {
    const a = assess(buildRequest('downgrade'), { account: buildAccount({ currency: 'JPY' }) });
    expect(a.amount).toEqual(money(-10500, 'JPY'));
  });

  it('does not prorate an immediate downgrade when the policy says not to', () => {
    const a = assess(buildRequest('downgrade', { effective: 'immediate' }));
    expect(a.details.proration).toBeUndefined();
    expect(a.amount).toEqual(money(-7000, 'EUR'));
    expect(a.effective_at).toBe(NOW.toISOString());
  });

  it('prorates an immediate downgrade when the policy says to', () => {
    const prorating = catalogWith((c) => (c.change_policy.downgrade.prorate = true));
    const a = assess(buildRequest('downgrade', { effective: 'immediate' }), { catalog: prorating });
    // Half of March remains at 2026-03-16T12:00Z.
    expect(a.details.proration).toMatchObject({ credit: money(-4950, 'EUR'), charge: money(1450, 'EUR'), net: money(-3500, 'EUR') });
    expect(a.amount).toEqual(money(-3500, 'EUR'));
  });

  it('a support-tier downgrade to a lower tier passes', () => {
    const a = assess(buildRequest('downgrade', { subtype: 'support_tier', details: { to_support_tier: 'standard' } }));
    expect(a.problems).toEqual([]);
    expect(a.details).toMatchObject({ from_support_tier: 'priority', to_support_tier: 'standard' });
    expect(a.amount).toBeNull();
  });

  it('refuses a support-tier "downgrade" to a higher tier', () => {
    const a = assess(buildRequest('downgrade', { subtype: 'support_tier', details: { to_support_tier: 'premium' } }));
    expect(fields(a)).toEqual(['details.to_support_tier']);
    expect(a.problems[0]!.message).toContain('(rank 2 → 3, expected lower)');
  });

  it("uses the account's own support tier over the plan's", () => {
    const a = assess(buildRequest('downgrade', { subtype: 'support_tier', details: { to_support_tier: 'priority' } }), {
      account: buildAccount({ support_tier: 'premium' }),
    });
    expect(a.problems).toEqual([]);
  });

  it('requires to_support_tier for a support-tier downgrade', () => {
    expect(fields(assess(buildRequest('downgrade', { subtype: 'support_tier', details: {} })))).toEqual(['details.to_support_tier']);
  });

  it('a feature downgrade removing included features passes', () => {
    expect(assess(buildRequest('downgrade', { subtype: 'feature', details: { features: ['sso', 'analytics'] } })).problems).toEqual([]);
  });

  it('refuses removing a feature the plan does not include', () => {
    const a = assess(buildRequest('downgrade', { subtype: 'feature', details: { features: ['sso', 'dedicated_csm'] } }));
    expect(fields(a)).toEqual(['details.features']);
    expect(a.problems[0]!.message).toContain('"dedicated_csm" not included in the current plan "growth"');
  });

  it('requires at least one feature for a feature downgrade', () => {
    expect(fields(assess(buildRequest('downgrade', { subtype: 'feature', details: { features: [] } })))).toEqual(['details.features']);
  });

  it('schedules on an effective date', () => {
    const a = assess(buildRequest('downgrade', { effective: '2026-05-01' }));
    expect(a.problems).toEqual([]);
    expect(a.effective_at).toBe('2026-05-01T00:00:00.000Z');
  });
});

describe('upgrade', () => {
  it('a subscription upgrade passes, immediate and prorated by policy', () => {
    const a = assess(buildRequest('upgrade', { details: { to_plan: 'business' } }));
    expect(a.problems).toEqual([]);
    expect(a.effective).toBe('immediate');
    expect(a.effective_at).toBe(NOW.toISOString());
    const expected = prorate({
      oldPrice: money(9900, 'EUR'),
      newPrice: money(29900, 'EUR'),
      periodStart: new Date('2026-03-01T00:00:00Z'),
      periodEnd: new Date('2026-04-01T00:00:00Z'),
      changeAt: NOW,
    });
    expect(a.details.proration).toEqual({
      period_start: '2026-03-01T00:00:00.000Z',
      period_end: '2026-04-01T00:00:00.000Z',
      change_at: NOW.toISOString(),
      ...expected,
    });
    expect(a.amount).toEqual(money(10000, 'EUR'));
    expect(a.details).toMatchObject({ price_delta: money(20000, 'EUR'), features: ['audit_log', 'phone_support'], contract_check: { ok: true } });
  });

  it('prorates over the billing period of the change (a month), not the whole contract term', () => {
    const yearContract = buildAccount({ term_start: '2026-01-01', term_end: '2027-01-01' });
    const a = assess(buildRequest('upgrade', { details: { to_plan: 'business' } }), { account: yearContract });
    expect(a.details.proration).toMatchObject({ period_start: '2026-03-01T00:00:00.000Z', period_end: '2026-04-01T00:00:00.000Z' });
    expect(a.amount).toEqual(money(10000, 'EUR'));
  });

  it('refuses an "upgrade" to a lower plan', () => {
    const a = assess(buildRequest('upgrade', { details: { to_plan: 'starter' } }));
    expect(fields(a)).toEqual(['details.to_plan']);
    expect(a.problems[0]!.message).toContain('pick a higher plan or file a downgrade');
  });

  it('an end-of-term upgrade is not prorated; its amount is the price delta', () => {
    const a = assess(buildRequest('upgrade', { effective: 'end_of_term' }));
    expect(a.details.proration).toBeUndefined();
    expect(a.amount).toEqual(money(20000, 'EUR'));
  });

  it('replaces a typed-in proration or price delta with the computed one', () => {
    const a = assess(
      buildRequest('upgrade', { effective: 'end_of_term', details: { to_plan: 'business', price_delta: { amount_minor: 1, currency: 'EUR' } } }),
    );
    expect(a.details.price_delta).toEqual(money(20000, 'EUR'));
  });

  it('keeps an explicit contract check', () => {
    const a = assess(buildRequest('upgrade', { details: { to_plan: 'business', contract_check: { ok: false, note: 'minimum term' } } }));
    expect(a.details.contract_check).toEqual({ ok: false, note: 'minimum term' });
  });

  it('compares a yearly plan with the monthly one per month', () => {
    const withAnnual = catalogWith((c) =>
      c.plans.push({ ...c.plans[3], id: 'business_annual', name: 'Business (annual)', interval: 'year', prices: { EUR: 358800 } }),
    );
    const a = assess(buildRequest('upgrade', { effective: 'end_of_term', details: { to_plan: 'business_annual' } }), { catalog: withAnnual });
    expect(a.details.price_delta).toEqual(money(29900 - 9900, 'EUR'));
  });

  it('a support-tier upgrade to a higher tier passes', () => {
    expect(assess(buildRequest('upgrade', { subtype: 'support_tier', details: { to_support_tier: 'premium' } })).problems).toEqual([]);
  });

  it('refuses a from_support_tier that is not the current one', () => {
    const a = assess(buildRequest('upgrade', { subtype: 'support_tier', details: { from_support_tier: 'standard', to_support_tier: 'premium' } }));
    expect(fields(a)).toEqual(['details.from_support_tier']);
  });

  it('refuses an unknown support tier', () => {
    expect(fields(assess(buildRequest('upgrade', { subtype: 'support_tier', details: { to_support_tier: 'gold' } })))).toEqual(['details.to_support_tier']);
  });

  it('a product upgrade adding features passes without a plan change', () => {
    const a = assess(buildRequest('upgrade', { subtype: 'product', details: { features: ['audit_log'] } }));
    expect(a.problems).toEqual([]);
    expect(a.amount).toBeNull();
  });

  it('refuses adding a feature the plan already includes', () => {
    const a = assess(buildRequest('upgrade', { subtype: 'access', details: { features: ['sso'] } }));
    expect(fields(a)).toEqual(['details.features']);
  });

  it('requires to_plan or features for a product upgrade', () => {
    expect(fields(assess(buildRequest('upgrade', { subtype: 'pricing_model', details: {} })))).toEqual(['details.to_plan']);
  });

  it('requires to_plan for an SLA upgrade', () => {
    expect(fields(assess(buildRequest('upgrade', { subtype: 'sla', details: {} })))).toEqual(['details.to_plan']);
  });

  it('reports an account plan missing from the catalog', () => {
    const a = assess(buildRequest('upgrade'), { account: buildAccount({ plan_id: 'legacy' }) });
    expect(fields(a)).toEqual(['details.from_plan']);
  });
});

describe('termination', () => {
  it('by default ends at the later of term end and notice, without a fee', () => {
    const a = assess(buildRequest('termination'));
    expect(a.problems).toEqual([]);
    // 30 days' notice from 2026-03-16 runs past the term end (2026-04-01).
    expect(a.details).toMatchObject({ notice_period_days: 30, termination_date: '2026-04-15' });
    expect(a.details.early_termination_fee).toBeUndefined();
    expect(a.amount).toEqual(money(0, 'EUR'));
    expect(a.effective).toBe('2026-04-15');
  });

  it('ends at the term end when the notice allows it', () => {
    const a = assess(buildRequest('termination'), { account: buildAccount({ notice_period_days: 7 }) });
    expect(a.details.termination_date).toBe('2026-04-01');
    expect(a.effective).toBe('end_of_term');
    expect(a.effective_at).toBe('2026-04-01T00:00:00.000Z');
  });

  it('uses a notice period given on the request', () => {
    const a = assess(buildRequest('termination', { details: { notice_period_days: 60 } }));
    expect(a.details.termination_date).toBe('2026-05-15');
  });

  it('charges the early-termination fee for a date inside the notice', () => {
    const a = assess(buildRequest('termination', { details: { termination_date: '2026-03-20' } }));
    expect(a.problems).toEqual([]);
    expect(a.details.early_termination_fee).toEqual(money(50000, 'EUR'));
    expect(a.amount).toEqual(money(50000, 'EUR'));
    expect(a.effective_at).toBe('2026-03-20T00:00:00.000Z');
  });

  it('records a waived fee but charges nothing', () => {
    const a = assess(buildRequest('termination', { details: { termination_date: '2026-03-20', fee_waived: true } }));
    expect(a.details.early_termination_fee).toEqual(money(50000, 'EUR'));
    expect(a.amount).toEqual(money(0, 'EUR'));
  });

  it('an immediate termination ends today and is early', () => {
    const a = assess(buildRequest('termination', { effective: 'immediate' }));
    expect(a.details.termination_date).toBe('2026-03-16');
    expect(a.effective_at).toBe(NOW.toISOString());
    expect(a.amount).toEqual(money(50000, 'EUR'));
  });

  it('refuses a termination date in the past', () => {
    expect(fields(assess(buildRequest('termination', { details: { termination_date: '2026-03-01' } })))).toEqual(['details.termination_date']);
  });

  it('refuses a termination date that contradicts the effective date', () => {
    const a = assess(buildRequest('termination', { effective: '2026-05-01', details: { termination_date: '2026-06-01' } }));
    expect(fields(a)).toEqual(['details.termination_date']);
  });

  it('refuses a fee when the notice is respected', () => {
    const a = assess(
      buildRequest('termination', { details: { termination_date: '2026-05-01', early_termination_fee: { amount_minor: 100, currency: 'EUR' } } }),
    );
    expect(fields(a)).toEqual(['details.early_termination_fee']);
    expect(a.problems[0]!.message).toContain('fee-free from 2026-04-15');
  });

  it('refuses a refund in another currency', () => {
    const a = assess(buildRequest('termination', { details: { refund: { amount_minor: 100, currency: 'USD' } } }));
    expect(fields(a)).toEqual(['details.refund.currency']);
  });

  it.each(['closed', 'merged'] as const)('refuses terminating a %s account', (status) => {
    const a = assess(buildRequest('termination'), { account: buildAccount({ status }) });
    expect(fields(a)).toEqual(['account_id']);
  });
});

describe('status_change', () => {
  const request = (subtype: 'activation' | 'suspension' | 'deactivation' | 'reactivation' | 'merge' | 'closure', details: Record<string, unknown> = {}) =>
    buildRequest('status_change', { subtype, details });
  const suspension = { suspension: { cause: 'unpaid invoices', review_date: '2026-04-15' } };
  const target = buildAccount({ id: 'acc_acme_group', name: 'Acme Group' });
  const related = new Map<string, Account>([[target.id, target]]);
  const merge = (target_account_id: string, source_account_id = 'acc_acme') => ({ merge: { source_account_id, target_account_id } });

  it('records the status before and after', () => {
    const a = assess(request('suspension', suspension));
    expect(a.problems).toEqual([]);
    expect(a.details).toMatchObject({ status_before: 'active', status_after: 'suspended' });
    expect(a.amount).toBeNull();
  });

  it('activates a pending account', () => {
    expect(assess(request('activation'), { account: buildAccount({ status: 'pending' }) }).problems).toEqual([]);
  });

  it('refuses activating an active account', () => {
    expect(fields(assess(request('activation')))).toEqual(['subtype']);
  });

  it.each(['suspended', 'deactivated'] as const)('reactivates a %s account', (status) => {
    expect(assess(request('reactivation'), { account: buildAccount({ status }) }).problems).toEqual([]);
  });

  it('refuses reactivating an active account', () => {
    const a = assess(request('reactivation'));
    expect(fields(a)).toEqual(['subtype']);
    expect(a.problems[0]!.message).toBe('account "acc_acme" is active; reactivation is only possible from suspended or deactivated');
  });

  it.each(['closed', 'merged'] as const)('refuses suspending a %s account', (status) => {
    expect(fields(assess(request('suspension', suspension), { account: buildAccount({ status }) }))).toEqual(['subtype']);
  });

  it.each(['closed', 'merged'] as const)('refuses deactivating a %s account', (status) => {
    expect(fields(assess(request('deactivation'), { account: buildAccount({ status }) }))).toEqual(['subtype']);
  });

  it('deactivates a suspended account', () => {
    expect(assess(request('deactivation'), { account: buildAccount({ status: 'suspended' }) }).problems).toEqual([]);
  });

  it('requires the suspension cause and review date', () => {
    expect(fields(assess(request('suspension')))).toEqual(['details.suspension']);
  });

  it('refuses a review date that is not in the future', () => {
    const a = assess(request('suspension', { suspension: { cause: 'fraud review', review_date: '2026-03-16' } }));
    expect(fields(a)).toEqual(['details.suspension.review_date']);
  });

  it('closes an active account, keeping data 90 days by default', () => {
    const a = assess(request('closure'));
    expect(a.problems).toEqual([]);
    expect(a.details.data_retention_until).toBe('2026-06-14');
  });

  it('refuses closing a closed account', () => {
    expect(fields(assess(request('closure'), { account: buildAccount({ status: 'closed' }) }))).toEqual(['subtype']);
  });

  it('refuses a data-retention date in the past', () => {
    expect(fields(assess(request('closure', { data_retention_until: '2026-01-01' })))).toEqual(['details.data_retention_until']);
  });

  it('merges into another open account in the same currency', () => {
    const a = assess(request('merge', merge('acc_acme_group')), { relatedAccounts: related });
    expect(a.problems).toEqual([]);
    expect(a.details.status_after).toBe('merged');
  });

  it('refuses a merge into itself', () => {
    const a = assess(request('merge', merge('acc_acme')), { relatedAccounts: related });
    expect(fields(a)).toEqual(['details.merge.target_account_id']);
    expect(a.problems[0]!.message).toContain('cannot merge an account into itself');
  });

  it("refuses a merge whose source is not the record's account", () => {
    const a = assess(request('merge', merge('acc_acme_group', 'acc_other')), { relatedAccounts: related });
    expect(fields(a)).toEqual(['details.merge.source_account_id']);
  });

  it('refuses a merge into an unknown account', () => {
    expect(fields(assess(request('merge', merge('acc_ghost')), { relatedAccounts: related }))).toEqual(['details.merge.target_account_id']);
  });

  it('refuses a merge into a closed account', () => {
    const closed = new Map([[target.id, { ...target, status: 'closed' as const }]]);
    expect(fields(assess(request('merge', merge('acc_acme_group')), { relatedAccounts: closed }))).toEqual(['details.merge.target_account_id']);
  });

  it('refuses a merge across currencies', () => {
    const usd = new Map([[target.id, { ...target, currency: 'USD' }]]);
    const a = assess(request('merge', merge('acc_acme_group')), { relatedAccounts: usd });
    expect(fields(a)).toEqual(['details.merge.target_account_id']);
    expect(a.problems[0]!.message).toContain('share a currency');
  });

  it('requires the merge source and target', () => {
    expect(fields(assess(request('merge')))).toEqual(['details.merge']);
  });
});

describe('service_credit', () => {
  const window = { period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-11T00:00:00Z' };
  const credit = (subtype: 'outage' | 'sla_breach' | 'billing_discrepancy' | 'delay' | 'goodwill', amount_minor: number, extra: Record<string, unknown> = {}) =>
    buildRequest('service_credit', { subtype, details: { ...window, requested_credit: { amount_minor, currency: 'EUR' }, ...extra } });

  it('a goodwill credit within the period charges passes and is a negative amount', () => {
    const a = assess(credit('goodwill', 100));
    expect(a.problems).toEqual([]);
    // One day of a 31-day €99 month: 9900 / 31 = 319.35 → €3.19
    expect(a.details).toMatchObject({ period_charges: money(319, 'EUR'), computed_credit: money(100, 'EUR'), verification: { result: 'verified' } });
    expect(a.amount).toEqual(money(-100, 'EUR'));
    expect(a.effective).toBe('immediate');
  });

  it('refuses a credit larger than the period charges', () => {
    const a = assess(credit('billing_discrepancy', 320));
    expect(fields(a)).toEqual(['details.requested_credit']);
    expect(a.problems[0]!.message).toBe("credit €3.20 exceeds the period's charges €3.19; credit at most €3.19 for this period");
    expect(a.details.verification).toEqual({ result: 'mismatch' });
  });

  it('refuses a period that ends before it starts', () => {
    const a = assess(credit('delay', 100, { period_start: '2026-03-11T00:00:00Z', period_end: '2026-03-10T00:00:00Z' }));
    expect(fields(a)).toEqual(['details.period_end']);
  });

  it('refuses a period that has not ended', () => {
    const a = assess(credit('delay', 100, { period_end: '2026-03-17T00:00:00Z' }));
    expect(fields(a)).toEqual(['details.period_end']);
  });

  it('refuses a credit in another currency', () => {
    const a = assess(credit('goodwill', 100, { requested_credit: { amount_minor: 100, currency: 'USD' } }));
    expect(fields(a)).toEqual(['details.requested_credit.currency']);
  });

  it('refuses a zero credit', () => {
    expect(fields(assess(credit('goodwill', 0)))).toEqual(['details.requested_credit.amount_minor']);
  });

  it('computes an outage credit from the SLA bracket and verifies a request within it', () => {
    // 98% uptime < 99.0% → 25% of €3.19 = 79.75 → 80
    const a = assess(credit('outage', 80, { measured_uptime_percent: 98 }));
    expect(a.problems).toEqual([]);
    expect(a.details.computed_credit).toEqual(money(80, 'EUR'));
    expect(a.details.verification).toMatchObject({ result: 'verified' });
  });

  it('flags a mismatch when more is requested than the SLA gives', () => {
    const a = assess(credit('sla_breach', 200, { measured_uptime_percent: 98 }));
    expect(a.problems).toEqual([]);
    expect(a.details.verification).toMatchObject({ result: 'mismatch' });
  });

  it("gives no SLA credit when the uptime meets the plan's SLA", () => {
    const a = assess(credit('outage', 50, { measured_uptime_percent: 99.95 }));
    expect(a.details.computed_credit).toEqual(money(0, 'EUR'));
    expect(a.details.verification).toMatchObject({ result: 'mismatch' });
  });

  it('marks an outage credit without measured uptime unverified', () => {
    const a = assess(credit('outage', 100));
    expect(a.details.computed_credit).toEqual(money(100, 'EUR'));
    expect(a.details.verification).toMatchObject({ result: 'unverified' });
  });

  it('prices a window before the current term by the billing period it fell in, when the account was billed then', () => {
    const billedSince2025 = buildAccount({ billing_started_at: '2025-01-01' });
    const a = assess(credit('goodwill', 100, { period_start: '2026-02-10T00:00:00Z', period_end: '2026-02-11T00:00:00Z' }), { account: billedSince2025 });
    expect(a.problems).toEqual([]);
    // One day of a 28-day €99 February: 9900 / 28 = 353.57 → €3.54
    expect(a.details.period_charges).toEqual(money(354, 'EUR'));
  });

  it('caps a credit by the billing periods it covers, not the whole contract term', () => {
    // €299/month, billed monthly on a 12-month contract; a 10-day outage in March.
    const yearContract = buildAccount({ plan_id: 'business', term_start: '2026-01-01', term_end: '2027-01-01' });
    const outage = (amount_minor: number) =>
      buildRequest('service_credit', {
        subtype: 'outage',
        details: { period_start: '2026-03-01', period_end: '2026-03-10', requested_credit: { amount_minor, currency: 'EUR' } },
      });
    const ok = assess(outage(9600), { account: yearContract });
    expect(ok.problems).toEqual([]);
    // 29900 × 10/31 = 9645.16; spread over the 12-month term it was 29900 × 10/365 = €8.19.
    expect(ok.details.period_charges).toEqual(money(9645, 'EUR'));
    expect(fields(assess(outage(9646), { account: yearContract }))).toEqual(['details.requested_credit']);
  });

  it("refuses a period before the account's billing history (default: the current term), so no charges are invented", () => {
    for (const start of ['1999-01-01', '0000-06-01', '2026-02-28']) {
      const a = assess(credit('goodwill', 100, { period_start: start, period_end: '2026-03-02' }));
      expect(fields(a)).toEqual(['details.period_start']);
      expect(a.problems[0]!.message).toMatch(/before the account's billing history, which starts 2026-03-01T00:00:00.000Z/);
      expect(a.details.period_charges).toBeUndefined();
    }
    // Billed since 1999: a 1999 window is priced as billed then (one day of a 31-day January).
    const since1999 = buildAccount({ billing_started_at: '1999-01-01' });
    const old = assess(credit('goodwill', 100, { period_start: '1999-01-05', period_end: '1999-01-05' }), { account: since1999 });
    expect(old.problems).toEqual([]);
    expect(old.details.period_charges).toEqual(money(319, 'EUR'));
    expect(fields(assess(credit('goodwill', 100, { period_start: '1998-12-31', period_end: '1999-01-05' }), { account: since1999 }))).toEqual([
      'details.period_start',
    ]);
  });

  it('prices in the account currency (JPY, no decimals)', () => {
    const a = assess(buildRequest('service_credit', { details: { ...window, requested_credit: { amount_minor: 100, currency: 'JPY' } } }), {
      account: buildAccount({ currency: 'JPY' }),
    });
    // 15000 / 31 = 483.87 → ¥484
    expect(a.details.period_charges).toEqual(money(484, 'JPY'));
  });

  it('reports an account plan missing from the catalog', () => {
    expect(fields(assess(credit('goodwill', 100), { account: buildAccount({ plan_id: 'legacy' }) }))).toEqual(['account_id']);
  });
});
