import { computeRiskFlags, DEFAULT_RISK_THRESHOLDS, explainRiskFlags, RiskThresholdsSchema } from '../../src/records/risk';
import type { RiskFacts, RiskThresholds } from '../../src/records/risk';
import type { LifecycleRecord } from '../../src/records/kinds';
import type { Account } from '../../src/records/accounts';
import { buildAccount } from '../helpers/builders';

/** Defaults, plus an absolute rolling limit of €200 so both rolling conditions can be pinned. */
const T: RiskThresholds = RiskThresholdsSchema.parse({ rolling_credit_max: { EUR: 20000 } });
/** €100 MRR: a 50% share is €50, 100% of MRR over the rolling window is €100. */
const account = buildAccount({ mrr_minor: 10000, contacts: ['ops@acme.example', 'Billing@Acme.example'] });
const none: RiskFacts = { recentStatusRequests: 0, recentStatusChanges: 0, rollingCreditsMinor: 0, agentCredits: 0 };

function record(over: Partial<LifecycleRecord> = {}): LifecycleRecord {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    kind: 'service_credit',
    subtype: 'outage',
    account_id: account.id,
    ticket_id: null,
    requested_by: 'agent@corp.example',
    requester: { email: 'ops@acme.example' },
    reason_code: 'outage',
    reason_text: '',
    effective: 'immediate',
    effective_at: null,
    state: 'submitted',
    version: 1,
    details: {},
    amount: { amount_minor: -1000, currency: 'EUR' },
    risk_flags: [],
    problems: [],
    created_at: '2026-03-16T12:00:00.000Z',
    updated_at: '2026-03-16T12:00:00.000Z',
    ...over,
  };
}

const flags = (over: Partial<LifecycleRecord> = {}, facts: Partial<RiskFacts> = {}, acc: Account | null = account, t: RiskThresholds = T) =>
  computeRiskFlags(record(over), acc, { ...none, ...facts }, t);
const eur = (amount_minor: number) => ({ amount: { amount_minor, currency: 'EUR' } });
const statusChange = (subtype: string) => ({ kind: 'status_change' as const, subtype, amount: null });

it('raises nothing for an ordinary small credit from a known contact', () => {
  expect(flags()).toEqual([]);
});

it('has cautious defaults', () => {
  expect(DEFAULT_RISK_THRESHOLDS).toEqual({
    status_requests_at_least: 2,
    status_window_days: 30,
    credit_mrr_share_percent: 50,
    rolling_credit_mrr_percent: 100,
    rolling_credit_max: {},
    rolling_credit_days: 90,
    agent_credits_at_least: 10,
    agent_window_days: 30,
    flip_flop_changes_at_least: 3,
    flip_flop_window_days: 60,
    // Unlisted currencies: the provider's preview must match exactly.
    provider_amount_tolerance: {},
  });
});

describe('repeated_status_requests', () => {
  it('flags a suspension once 2 other suspension/deactivation requests are in the window', () => {
    expect(flags(statusChange('suspension'), { recentStatusRequests: 1 })).toEqual([]);
    expect(flags(statusChange('suspension'), { recentStatusRequests: 2 })).toEqual(['repeated_status_requests']);
  });
  it('flags deactivations too, but never other kinds of record', () => {
    expect(flags(statusChange('deactivation'), { recentStatusRequests: 2 })).toEqual(['repeated_status_requests']);
    expect(flags(statusChange('merge'), { recentStatusRequests: 5 })).toEqual([]);
    expect(flags({}, { recentStatusRequests: 5 })).toEqual([]);
  });
  it('follows a configured threshold', () => {
    expect(flags(statusChange('suspension'), { recentStatusRequests: 1 }, account, { ...T, status_requests_at_least: 1 })).toEqual([
      'repeated_status_requests',
    ]);
  });
});

describe('status_flip_flop', () => {
  it('flags the third status change in the window, this one included', () => {
    expect(flags(statusChange('reactivation'), { recentStatusChanges: 1 })).toEqual([]);
    expect(flags(statusChange('reactivation'), { recentStatusChanges: 2 })).toEqual(['status_flip_flop']);
  });
  it('is only raised by status changes', () => {
    expect(flags({}, { recentStatusChanges: 10 })).toEqual([]);
  });
});

describe('credit_above_mrr_share', () => {
  it('flags a credit strictly above 50% of MRR', () => {
    expect(flags(eur(-5000))).toEqual([]);
    expect(flags(eur(-5001))).toEqual(['credit_above_mrr_share']);
  });
  it('honours a fractional share exactly', () => {
    const t = { ...T, credit_mrr_share_percent: 12.5 };
    expect(flags(eur(-1250), {}, account, t)).toEqual([]);
    expect(flags(eur(-1251), {}, account, t)).toEqual(['credit_above_mrr_share']);
  });
  it('flags any credit to an account without recurring revenue', () => {
    const free = buildAccount({ mrr_minor: 0, contacts: ['ops@acme.example'] });
    expect(explainRiskFlags(record(eur(-1)), free, none, RiskThresholdsSchema.parse({}))).toEqual([
      { flag: 'credit_above_mrr_share', message: 'credit €0.01 for an account with no recurring revenue' },
      { flag: 'credit_rolling_total', message: 'credits in the last 90 days would total €0.01 with this one (more than 100% of MRR €0.00)' },
    ]);
  });
  it('cannot compare a credit in another currency than the account is billed in', () => {
    expect(flags({ amount: { amount_minor: -900000, currency: 'USD' } })).toEqual([]);
  });
  it('ignores records that are not credits (upgrades, positive amounts)', () => {
    expect(flags({ kind: 'upgrade', subtype: 'subscription', ...eur(-90000) })).toEqual([]);
    expect(flags(eur(90000))).toEqual([]);
  });
});

describe('credit_rolling_total', () => {
  it('flags other credits plus this one strictly above 100% of MRR', () => {
    expect(flags(eur(-1000), { rollingCreditsMinor: 9000 })).toEqual([]);
    expect(flags(eur(-1000), { rollingCreditsMinor: 9001 })).toEqual(['credit_rolling_total']);
  });
  it('flags a total strictly above the absolute limit for the currency, whatever the MRR', () => {
    const rich = buildAccount({ mrr_minor: 10_000_000, contacts: ['ops@acme.example'] });
    expect(flags(eur(-1000), { rollingCreditsMinor: 19000 }, rich)).toEqual([]);
    expect(flags(eur(-1000), { rollingCreditsMinor: 19001 }, rich)).toEqual(['credit_rolling_total']);
  });
  it('applies the absolute limit of the record currency only', () => {
    const usd = buildAccount({ currency: 'USD', mrr_minor: 10_000_000, contacts: ['ops@acme.example'] });
    expect(flags({ amount: { amount_minor: -1000, currency: 'USD' } }, { rollingCreditsMinor: 50000 }, usd)).toEqual([]);
  });
});

describe('agent_credit_volume', () => {
  it('flags the agent’s 10th credit in the window, this one included', () => {
    expect(flags({}, { agentCredits: 8 })).toEqual([]);
    expect(flags({}, { agentCredits: 9 })).toEqual(['agent_credit_volume']);
  });
  it('is only raised by credits', () => {
    expect(flags(statusChange('suspension'), { agentCredits: 50 })).toEqual([]);
  });
});

describe('unknown_requester', () => {
  it('flags a requester who is not a contact of the account', () => {
    expect(flags({ requester: { email: 'stranger@evil.example' } })).toEqual(['unknown_requester']);
  });
  it('matches contacts case-insensitively', () => {
    expect(flags({ requester: { email: 'OPS@ACME.example' } })).toEqual([]);
    expect(flags({ requester: { email: 'billing@acme.example' } })).toEqual([]);
  });
  it('does not flag a record without a requester, or one whose account is unknown', () => {
    expect(flags({ requester: null })).toEqual([]);
    expect(flags({ requester: { email: 'stranger@evil.example' } }, {}, null)).toEqual([]);
  });
  it('flags every requester of an account with no contacts on file', () => {
    expect(flags({}, {}, buildAccount({ mrr_minor: 10000, contacts: [] }))).toEqual(['unknown_requester']);
  });
});

describe('explanations for approvers', () => {
  it('say what was counted, over which window, with money in the record currency, sorted by flag', () => {
    const out = explainRiskFlags(
      record({ ...eur(-30000), requester: { email: 'x@y.example' } }),
      account,
      { ...none, agentCredits: 11, rollingCreditsMinor: 500 },
      T,
    );
    expect(out).toEqual([
      { flag: 'agent_credit_volume', message: 'the requesting agent filed 12 credits in the last 30 days, this one included' },
      { flag: 'credit_above_mrr_share', message: "credit €300.00 is more than 50% of the account's MRR (€100.00)" },
      { flag: 'credit_rolling_total', message: 'credits in the last 90 days would total €305.00 with this one (limit €200.00; more than 100% of MRR €100.00)' },
      { flag: 'unknown_requester', message: "the customer who asked is not one of the account's 2 known contacts" },
    ]);
  });
  it('for status changes', () => {
    expect(explainRiskFlags(record(statusChange('suspension')), account, { ...none, recentStatusRequests: 2, recentStatusChanges: 4 }, T)).toEqual([
      { flag: 'repeated_status_requests', message: '3 suspension/deactivation requests for this account in the last 30 days, this one included' },
      { flag: 'status_flip_flop', message: '5 status changes for this account in the last 60 days, this one included' },
    ]);
  });
  it('format yen without decimals', () => {
    const jp = buildAccount({ currency: 'JPY', mrr_minor: 15000, contacts: ['ops@acme.example'] });
    expect(explainRiskFlags(record({ amount: { amount_minor: -9000, currency: 'JPY' } }), jp, none, T)[0]!.message).toBe(
      "credit ¥9,000 is more than 50% of the account's MRR (¥15,000)",
    );
  });
});

describe('thresholds from the policy file', () => {
  it('are refused when they make no sense', () => {
    expect(RiskThresholdsSchema.safeParse({ flip_flop_changes_at_least: 1 }).success).toBe(false);
    expect(RiskThresholdsSchema.safeParse({ rolling_credit_max: { EUR: -1 } }).success).toBe(false);
    expect(RiskThresholdsSchema.safeParse({ agent_window_days: 7.5 }).success).toBe(false);
    expect(RiskThresholdsSchema.safeParse({ status_window: 30 }).error?.issues[0]?.message).toMatch(
      /unknown field "status_window"; expected: status_requests_at_least, status_window_days/,
    );
  });
});

describe('provider_amount_mismatch', () => {
  const upgrade = { kind: 'upgrade' as const, subtype: 'subscription', amount: { amount_minor: 4210, currency: 'EUR' } };
  const preview = (amount_minor: number | null, unavailable: string | null = null) => ({
    provider: 'stripe',
    amount: amount_minor === null ? null : { amount_minor, currency: 'EUR' },
    computed: { amount_minor: 4210, currency: 'EUR' },
    unavailable,
  });
  const withTolerance = (EUR?: number) => RiskThresholdsSchema.parse(EUR === undefined ? {} : { provider_amount_tolerance: { EUR } });
  const explain = (p: ReturnType<typeof preview> | null, t = withTolerance()) => explainRiskFlags(record(upgrade), account, none, t, p);

  it('raises nothing when Stripe will invoice what Lifecycle Desk computed, or when there is no preview', () => {
    expect(explain(preview(4210))).toEqual([]);
    expect(explain(null)).toEqual([]);
  });

  it('raises a difference above the currency tolerance (none listed: exact), naming both figures', () => {
    expect(explain(preview(4211))).toEqual([
      { flag: 'provider_amount_mismatch', message: 'Stripe will invoice €42.11; Lifecycle Desk computed €42.10: €0.01 apart, more than the €0.00 tolerance' },
    ]);
    expect(explain(preview(4211), withTolerance(1))).toEqual([]);
    expect(explain(preview(4212), withTolerance(1)).map((e) => e.flag)).toEqual(['provider_amount_mismatch']);
    expect(explain(preview(-500))[0]!.message).toMatch(/^Stripe will credit €5\.00; Lifecycle Desk computed €42\.10/);
  });

  it('fails closed: a provider that could not preview raises the flag', () => {
    expect(explain(preview(null, 'no live subscription'))).toEqual([
      { flag: 'provider_amount_mismatch', message: 'Stripe could not preview this change (no live subscription); the amount it will bill is unknown' },
    ]);
  });

  it('the tolerance is minor units per ISO currency', () => {
    expect(() => RiskThresholdsSchema.parse({ provider_amount_tolerance: { EUR: 0.5 } })).toThrow(/integer minor units/);
    expect(() => RiskThresholdsSchema.parse({ provider_amount_tolerance: { eur: 1 } })).toThrow(/ISO 4217/);
  });
});
