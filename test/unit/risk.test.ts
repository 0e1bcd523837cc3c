import { computeRiskFlags, explainRiskFlags, RiskThresholdsSchema } from '../../src/records/risk';
import type { RiskFacts } from '../../src/records/risk';
import type { LifecycleRecord } from '../../src/records/kinds';
import { buildAccount } from '../helpers/builders';

const T = RiskThresholdsSchema.parse({ rolling_credit_max: { EUR: 20000 } });
const account = buildAccount({ mrr_minor: 10000, contacts: ['ops@acme.example'] });
const none: RiskFacts = { recentStatusRequests: 0, recentStatusChanges: 0, rollingCreditsMinor: 0, agentCredits: 0 };

function record(over: Partial<LifecycleRecord> = {}): LifecycleRecord {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    kind: 'service_credit',
    subtype: 'outage',
    account_id: account.id,
    ticket_id: null,
    requested_by: 'agent@corp.example',
    requester: { email: 'OPS@acme.example' },
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

const flags = (over: Partial<LifecycleRecord> = {}, facts: Partial<RiskFacts> = {}) => computeRiskFlags(record(over), account, { ...none, ...facts }, T);
const suspension = { kind: 'status_change' as const, subtype: 'suspension', amount: null };

it('raises nothing for an ordinary small credit from a known contact', () => {
  expect(flags()).toEqual([]);
});

it('repeated suspension/deactivation requests: flagged from the threshold on', () => {
  expect(flags(suspension, { recentStatusRequests: 1, recentStatusChanges: 0 })).toEqual([]);
  expect(flags(suspension, { recentStatusRequests: 2, recentStatusChanges: 0 })).toEqual(['repeated_status_requests']);
});

it('status flip-flopping: the third status change in the window', () => {
  expect(flags({ ...suspension, subtype: 'reactivation' }, { recentStatusChanges: 1 })).toEqual([]);
  expect(flags({ ...suspension, subtype: 'reactivation' }, { recentStatusChanges: 2 })).toEqual(['status_flip_flop']);
});

it('a credit above half the MRR', () => {
  expect(flags({ amount: { amount_minor: -5000, currency: 'EUR' } })).toEqual([]);
  expect(flags({ amount: { amount_minor: -5001, currency: 'EUR' } })).toEqual(['credit_above_mrr_share']);
});

it('rolling credits above 100% of MRR or above the absolute limit', () => {
  expect(flags({}, { rollingCreditsMinor: 9000 })).toEqual([]);
  expect(flags({}, { rollingCreditsMinor: 9001 })).toEqual(['credit_rolling_total']);
  const richAccount = buildAccount({ mrr_minor: 1_000_000 });
  expect(computeRiskFlags(record(), richAccount, { ...none, rollingCreditsMinor: 19001 }, T)).toEqual(['credit_rolling_total']);
});

it('one agent filing many credits', () => {
  expect(flags({}, { agentCredits: 8 })).toEqual([]);
  expect(flags({}, { agentCredits: 9 })).toEqual(['agent_credit_volume']);
});

it('a requester who is not a known contact (case-insensitive), and none when there is no requester', () => {
  expect(flags({ requester: { email: 'stranger@evil.example' } })).toEqual(['unknown_requester']);
  expect(flags({ requester: null })).toEqual([]);
});

it('explains each flag in words an approver can read', () => {
  const out = explainRiskFlags(record({ amount: { amount_minor: -30000, currency: 'EUR' }, requester: { email: 'x@y.example' } }), account, none, T);
  expect(out.map((e) => e.flag)).toEqual(['credit_above_mrr_share', 'credit_rolling_total', 'unknown_requester']);
  expect(out[0]!.message).toBe("credit €300.00 is more than 50% of the account's MRR (€100.00)");
  expect(out[1]!.message).toMatch(/would total €300\.00 \(limit €200\.00\)/);
});
