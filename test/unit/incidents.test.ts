import { buildAccount, buildCatalog } from '../helpers/builders';
import {
  IncidentInputSchema,
  filterMatches,
  incidentCreditFor,
  normaliseFilter,
  summariseBatch,
  uptimePercent,
  widenFilters,
} from '../../src/records/incidents';
import type { BatchCredit, IncidentCredit } from '../../src/records/incidents';
import { decideIncidentPolicy, parsePolicy } from '../../src/records/policy';
import { assessRequest } from '../../src/records/validation';
import { RecordRequestSchema } from '../../src/records/kinds';
import { incidentCreditRequest } from '../../src/records/incidents';
import fs from 'node:fs';
import path from 'node:path';

const catalog = buildCatalog();
/** After the March 2026 billing period of the default accounts (term_start 1 March, monthly). */
const AFTER = new Date('2026-04-05T00:00:00Z');
const SIX_HOURS = { starts_at: '2026-03-10T00:00:00.000Z', ends_at: '2026-03-10T06:00:00.000Z', measured_uptime_percent: null };
const TWELVE_HOURS = { starts_at: '2026-03-10T00:00:00.000Z', ends_at: '2026-03-10T12:00:00.000Z', measured_uptime_percent: null };

const ok = (c: IncidentCredit) => {
  if (!c.ok) throw new Error(`expected a credit, got ${c.code}: ${c.message}`);
  return c;
};

describe('uptime over a billing period', () => {
  it('takes the window off the period, rounded down to 4 decimals', () => {
    // March 2026: 31 days = 2,678,400 s. 6 h = 21,600 s down: 2,656,800 / 2,678,400 = 99.19354…%
    expect(uptimePercent(21_600n, 2_678_400n)).toBe(99.1935);
    // 12 h: 98.38709…%
    expect(uptimePercent(43_200n, 2_678_400n)).toBe(98.387);
    expect(uptimePercent(0n, 2_678_400n)).toBe(100);
    expect(uptimePercent(5_000_000n, 2_678_400n)).toBe(0);
  });

  it('never rounds an uptime across a bracket: just below 99.9 stays below', () => {
    // 99.8999999…%: one second short of 99.9 over a 10,000,000 s period would be 99.89999 → 99.8999
    expect(uptimePercent(10_001n, 10_000_000n)).toBe(99.8999);
    expect(uptimePercent(10_000n, 10_000_000n)).toBe(99.9);
  });
});

describe('credit per account (hand-computed from config/catalog.example.json)', () => {
  it('growth EUR, 6 h in March: 99.1935% < 99.9% SLA, bracket <99.9 → 10% of €99.00 = €9.90', () => {
    const c = ok(incidentCreditFor(buildAccount(), catalog, SIX_HOURS, AFTER));
    expect(c).toMatchObject({
      period_start: '2026-03-01T00:00:00.000Z',
      period_end: '2026-04-01T00:00:00.000Z',
      uptime_percent: 99.1935,
      uptime_source: 'computed',
      charges: { amount_minor: 9900, currency: 'EUR' },
      credit: { amount_minor: 990, currency: 'EUR' },
      bracket: { uptime_below: 99.9, percent: 10 },
    });
  });

  it('JPY (no decimals): business ¥45,000, 12 h → 98.387% → 25% = ¥11,250; starter ¥4,500 → ¥1,125', () => {
    expect(ok(incidentCreditFor(buildAccount({ plan_id: 'business', currency: 'JPY' }), catalog, TWELVE_HOURS, AFTER)).credit).toEqual({
      amount_minor: 11_250,
      currency: 'JPY',
    });
    expect(ok(incidentCreditFor(buildAccount({ plan_id: 'starter', currency: 'JPY' }), catalog, TWELVE_HOURS, AFTER)).credit).toEqual({
      amount_minor: 1125,
      currency: 'JPY',
    });
  });

  it('a given uptime is used as it is, for every account', () => {
    const c = ok(incidentCreditFor(buildAccount({ plan_id: 'enterprise', currency: 'USD' }), catalog, { ...SIX_HOURS, measured_uptime_percent: 94.5 }, AFTER));
    expect(c).toMatchObject({ uptime_percent: 94.5, uptime_source: 'given', credit: { amount_minor: 54_950, currency: 'USD' } });
  });

  it('no credit when the SLA is met, the plan costs nothing, or the period has not ended', () => {
    expect(incidentCreditFor(buildAccount({ plan_id: 'starter' }), catalog, { ...SIX_HOURS, measured_uptime_percent: 99.6 }, AFTER)).toMatchObject({
      ok: false,
      code: 'no_credit_due',
    });
    expect(incidentCreditFor(buildAccount({ plan_id: 'free' }), catalog, SIX_HOURS, AFTER)).toMatchObject({ ok: false, code: 'no_credit_due' });
    expect(incidentCreditFor(buildAccount(), catalog, SIX_HOURS, new Date('2026-03-20T00:00:00Z'))).toMatchObject({ ok: false, code: 'period_open' });
  });

  it('the billing period is counted from the account term start: a 15 Feb anchor credits 15 Feb – 15 Mar (28 days)', () => {
    const c = ok(incidentCreditFor(buildAccount({ term_start: '2026-02-15T00:00:00Z', term_end: '2026-05-15T00:00:00Z' }), catalog, SIX_HOURS, AFTER));
    expect(c).toMatchObject({ period_start: '2026-02-15T00:00:00.000Z', period_end: '2026-03-15T00:00:00.000Z' });
    // 28 days = 2,419,200 s; 6 h down → 99.1071%
    expect(c.uptime_percent).toBe(99.1071);
  });

  it('the record it files passes the service_credit validation as verified', () => {
    const account = buildAccount({ plan_id: 'business', currency: 'JPY' });
    const c = ok(incidentCreditFor(account, catalog, TWELVE_HOURS, AFTER));
    const raw = incidentCreditRequest({ reference: 'INC-1', service: 'API', reason_code: 'outage', ...TWELVE_HOURS }, account, c, 'agent@support.example');
    const a = assessRequest(RecordRequestSchema.parse(raw), { account, catalog, now: AFTER, relatedAccounts: new Map() });
    expect(a.problems).toEqual([]);
    expect(a.details).toMatchObject({ computed_credit: { amount_minor: 11_250, currency: 'JPY' }, verification: { result: 'verified' } });
    expect(a.amount).toEqual({ amount_minor: -11_250, currency: 'JPY' });
  });
});

describe('batch summary: totals per currency against hand-computed fixtures', () => {
  const credit = (account_id: string, amount_minor: number, currency: string, flagged = false): BatchCredit => ({
    account_id,
    credit: { amount_minor, currency },
    uptime_percent: 99.1935,
    risk: flagged ? [{ flag: 'credit_above_mrr_share', message: 'credit is more than 50% of MRR' }] : [],
  });
  // From the cases above: two growth EUR (€9.90 each), growth JPY ¥1,500, business JPY ¥4,500,
  // starter JPY ¥450, enterprise USD $109.90.
  const credits = [
    credit('a', 990, 'EUR'),
    credit('b', 990, 'EUR'),
    credit('c', 1500, 'JPY'),
    credit('d', 4500, 'JPY', true),
    credit('e', 450, 'JPY'),
    credit('f', 10_990, 'USD'),
  ];

  it('sums each currency exactly, never across currencies', () => {
    const s = summariseBatch(credits);
    expect(s.accounts).toBe(6);
    expect(s.totals).toEqual([
      { amount_minor: 1980, currency: 'EUR' },
      { amount_minor: 6450, currency: 'JPY' },
      { amount_minor: 10_990, currency: 'USD' },
    ]);
    expect(s.largest.filter((l) => l.credit.currency === 'JPY').map((l) => l.account_id)).toEqual(['d', 'c', 'e']);
    expect(s.flagged_count).toBe(1);
    expect(s.flagged[0]).toMatchObject({ account_id: 'd', risk: [{ flag: 'credit_above_mrr_share' }] });
  });

  it('the same accounts computed from the catalog give the same totals', () => {
    const accounts = [
      buildAccount({ id: 'a' }),
      buildAccount({ id: 'b' }),
      buildAccount({ id: 'c', currency: 'JPY' }),
      buildAccount({ id: 'd', plan_id: 'business', currency: 'JPY' }),
      buildAccount({ id: 'e', plan_id: 'starter', currency: 'JPY' }),
      buildAccount({ id: 'f', plan_id: 'enterprise', currency: 'USD' }),
      buildAccount({ id: 'g', plan_id: 'free' }),
    ];
    const computed = accounts.flatMap((a) => {
      const c = incidentCreditFor(a, catalog, SIX_HOURS, AFTER);
      return c.ok ? [credit(a.id, c.credit.amount_minor, c.credit.currency)] : [];
    });
    expect(summariseBatch(computed).totals).toEqual([
      { amount_minor: 1980, currency: 'EUR' },
      { amount_minor: 6450, currency: 'JPY' },
      { amount_minor: 10_990, currency: 'USD' },
    ]);
  });
});

describe('filters', () => {
  it('region folds into a region: tag; every criterion of one filter must hold; filters widen as a union', () => {
    const f = normaliseFilter(
      IncidentInputSchema.parse({
        reference: 'R',
        starts_at: '2026-03-10',
        ends_at: '2026-03-11',
        service: 'API',
        requested_by: 'a',
        accounts: { plans: 'growth', region: 'eu' },
      }).accounts,
    );
    expect(f).toEqual({ plans: ['growth'], tags: ['region:eu'] });
    expect(filterMatches(f, { id: 'x', plan_id: 'growth', tags: ['region:eu'] })).toBe(true);
    expect(filterMatches(f, { id: 'x', plan_id: 'growth', tags: ['region:us'] })).toBe(false);
    expect(filterMatches(f, { id: 'x', plan_id: 'starter', tags: ['region:eu'] })).toBe(false);
    const wider = widenFilters([f], { account_ids: ['y'] });
    expect(wider).toHaveLength(2);
    expect(widenFilters(wider, { account_ids: ['y'] })).toHaveLength(2);
  });

  it('refuses an incident that ends before it starts, or names no accounts', () => {
    const r = IncidentInputSchema.safeParse({
      reference: 'R',
      starts_at: '2026-03-11',
      ends_at: '2026-03-10',
      service: 'API',
      requested_by: 'a',
      accounts: {},
    });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['ends_at', 'accounts']));
  });
});

describe('incident approval policy', () => {
  const json = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'policy.example.json'), 'utf8'));
  it('needs two approvers when a currency total is above its threshold', () => {
    const policy = parsePolicy({ ...json, incidents: { two_approvers_above: { EUR: 500_000, JPY: 750_000 } } }, 'policy.json');
    expect(decideIncidentPolicy(policy, [{ amount_minor: 500_000, currency: 'EUR' }]).approvals).toBe(1);
    expect(decideIncidentPolicy(policy, [{ amount_minor: 500_001, currency: 'EUR' }]).approvals).toBe(2);
    expect(decideIncidentPolicy(policy, [{ amount_minor: 9_000_000, currency: 'USD' }]).approvals).toBe(1);
    expect(decideIncidentPolicy(policy, [{ amount_minor: 750_001, currency: 'JPY' }]).approvers).toEqual(policy.approvers);
  });

  it('refuses a two-approver incident policy that names one person', () => {
    expect(() => parsePolicy({ ...json, incidents: { approvals: 2, approvers: { user_ids: ['U0LDSUP01'] } } }, 'policy.json')).toThrow(
      /incidents\.approvers.*two distinct approvers/,
    );
  });
});
