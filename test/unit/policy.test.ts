import fs from 'node:fs';
import path from 'node:path';
import { decidePolicy, parsePolicy, policyGroups } from '../../src/records/policy';
import type { Policy } from '../../src/records/policy';
import type { LifecycleRecord } from '../../src/records/kinds';
import type { AppError } from '../../src/records/errors';

const FILE = path.resolve(__dirname, '..', '..', 'config', 'policy.example.json');
const raw = () => JSON.parse(fs.readFileSync(FILE, 'utf8')) as Record<string, unknown> & { rules: Record<string, unknown>[] };
const policy: Policy = parsePolicy(raw(), FILE);

function record(over: Partial<LifecycleRecord> = {}): LifecycleRecord {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    kind: 'service_credit',
    subtype: 'outage',
    account_id: 'acc_1',
    ticket_id: null,
    requested_by: 'agent@corp.example',
    requester: null,
    reason_code: 'outage',
    reason_text: '',
    effective: 'immediate',
    effective_at: null,
    state: 'submitted',
    version: 1,
    details: {},
    amount: { amount_minor: -5000, currency: 'EUR' },
    risk_flags: [],
    problems: [],
    created_at: '2026-03-16T12:00:00.000Z',
    updated_at: '2026-03-16T12:00:00.000Z',
    ...over,
  };
}

const decide = (over: Partial<LifecycleRecord>, tier: number | null = 2) => decidePolicy(policy, record(over), { accountTierRank: tier });

const refusal = (json: unknown): AppError => {
  try {
    parsePolicy(json, 'config/policy.json');
  } catch (e) {
    return e as AppError;
  }
  throw new Error('expected the policy to be refused');
};

describe('the shipped example', () => {
  it('auto-approves upgrades and small credits', () => {
    expect(decide({ kind: 'upgrade', subtype: 'subscription', amount: { amount_minor: 20000, currency: 'EUR' } })).toMatchObject({ rule: 'upgrades', approvals: 0 });
    expect(decide({ amount: { amount_minor: -9999, currency: 'EUR' } })).toMatchObject({ rule: 'small credits', approvals: 0 });
  });
  it('needs one approver for mid-sized credits and two for large ones, at the exact thresholds', () => {
    expect(decide({ amount: { amount_minor: -10000, currency: 'EUR' } })).toMatchObject({ rule: 'credits', approvals: 1 });
    expect(decide({ amount: { amount_minor: -99999, currency: 'EUR' } })).toMatchObject({ rule: 'credits', approvals: 1 });
    expect(decide({ amount: { amount_minor: -100000, currency: 'EUR' } })).toMatchObject({ rule: 'large credits', approvals: 2 });
  });
  it('compares thresholds in the record currency (JPY has no decimals)', () => {
    expect(decide({ amount: { amount_minor: -14999, currency: 'JPY' } })).toMatchObject({ rule: 'small credits' });
    expect(decide({ amount: { amount_minor: -15000, currency: 'JPY' } })).toMatchObject({ rule: 'credits' });
    expect(decide({ amount: { amount_minor: -500, currency: 'CHF' } })).toMatchObject({ rule: 'credits', approvals: 1 });
  });
  it('needs approval for every merge and closure, two approvers for a waived termination fee', () => {
    expect(decide({ kind: 'status_change', subtype: 'merge', amount: null })).toMatchObject({ rule: 'merges and closures', approvals: 1 });
    expect(decide({ kind: 'status_change', subtype: 'closure', amount: null })).toMatchObject({ approvals: 1 });
    expect(decide({ kind: 'termination', subtype: 'customer_initiated', details: { fee_waived: true } })).toMatchObject({ rule: 'waived termination fees', approvals: 2 });
    expect(decide({ kind: 'termination', subtype: 'customer_initiated', details: { fee_waived: false } })).toMatchObject({ rule: 'terminations', approvals: 1 });
  });
  it('lets any risk flag force approval of what would be auto-approved', () => {
    expect(decide({ kind: 'upgrade', subtype: 'subscription', risk_flags: ['unknown_requester'] })).toMatchObject({ rule: 'risky requests', approvals: 1 });
  });
  it('asks for approval of enterprise downgrades only', () => {
    expect(decide({ kind: 'downgrade', subtype: 'subscription' }, 4)).toMatchObject({ rule: 'enterprise downgrades', approvals: 1 });
    expect(decide({ kind: 'downgrade', subtype: 'subscription' }, 3)).toMatchObject({ rule: 'downgrades', approvals: 0 });
  });
  it('lists every group it names', () => {
    expect(policyGroups(policy)).toEqual(['S0LDAPPROVE']);
  });
});

describe('invalid policy files are refused naming the file, the rule and the field', () => {
  it('a threshold that is not integer minor units', () => {
    const p = raw();
    (p.rules[5]!.when as Record<string, unknown>).min_amount = { EUR: 99.5 };
    expect(refusal(p).message).toMatch(/config\/policy\.json: invalid approval policy:\n.*rules\[5\] "large credits": when\.min_amount\.EUR: expected integer minor units/);
  });
  it('a last rule that is not a catch-all', () => {
    const p = raw();
    p.rules = p.rules.slice(0, -1);
    expect(refusal(p).message).toMatch(/rules\[11\] "activations and reactivations": when: the last rule must be a catch-all/);
  });
  it('a rule needing approval with no approvers anywhere', () => {
    const p = { ...raw(), approvers: { user_ids: [], user_groups: [] } };
    expect(refusal(p).message).toMatch(/rules\[0\] "risky requests": approvers: needs approval but names no approvers/);
  });
  it('two approvers required from a single person', () => {
    const p = raw();
    p.rules[1]!.approvers = { user_ids: ['U0LDSUP01'] };
    expect(refusal(p).message).toMatch(/rules\[1\] "waived termination fees": approvers: needs two distinct approvers/);
  });
  it('bad Slack ids, unknown kinds, duplicate names and impossible approval counts', () => {
    const p = raw();
    p.rules[2]!.approvers = { user_ids: ['jane@corp.example'] };
    (p.rules[3]!.when as Record<string, unknown>).kind = 'refund';
    p.rules[6]!.approvals = 3;
    const msg = refusal(p).message;
    expect(msg).toMatch(/rules\[2\] "terminations": approvers\.user_ids\[0\]: expected a Slack user id/);
    expect(msg).toMatch(/rules\[3\] "merges and closures": when\.kind/);
    expect(msg).toMatch(/rules\[6\] "small credits": approvals: expected 0 \(auto-approve\), 1 or 2/);
  });
  it('two rules with the same name', () => {
    const p = raw();
    p.rules[4]!.name = 'terminations';
    expect(refusal(p).message).toMatch(/rules\[4\] "terminations": name: duplicate rule name "terminations"/);
  });
  it('an escalation that comes before the reminder', () => {
    expect(refusal({ ...raw(), escalate_after_hours: 2 }).message).toMatch(/escalate_after_hours: must be later than reminder_after_hours/);
  });
});
