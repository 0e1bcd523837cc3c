import fs from 'node:fs';
import path from 'node:path';
import { decidePolicy, parsePolicy, policyGroups } from '../../src/records/policy';
import type { Policy } from '../../src/records/policy';
import type { LifecycleRecord } from '../../src/records/kinds';
import { AppError } from '../../src/records/errors';
import { DEFAULT_RISK_THRESHOLDS } from '../../src/records/risk';
import type { BreakableJson } from '../helpers/builders';

const FILE = path.resolve(__dirname, '..', '..', 'config', 'policy.example.json');
const SOURCE = 'config/policy.json';
const raw = (): BreakableJson => JSON.parse(fs.readFileSync(FILE, 'utf8')) as BreakableJson;
const policy: Policy = parsePolicy(raw(), FILE);

/** Index of a rule of the example by name, so tests survive reordering of unrelated rules. */
const at = (name: string): number => {
  const i = (raw().rules as { name: string }[]).findIndex((r) => r.name === name);
  if (i < 0) throw new Error(`no rule "${name}" in the example`);
  return i;
};

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
const credit = (amount_minor: number, currency = 'EUR', over: Partial<LifecycleRecord> = {}) => decide({ amount: { amount_minor, currency }, ...over });
const status = (subtype: string, over: Partial<LifecycleRecord> = {}) => decide({ kind: 'status_change', subtype, amount: null, ...over });
const termination = (fee_waived: boolean, over: Partial<LifecycleRecord> = {}) =>
  decide({ kind: 'termination', subtype: 'customer_initiated', details: { fee_waived }, amount: { amount_minor: 0, currency: 'EUR' }, ...over });

/** The policy_invalid error for a document, or a failure when it parses. */
function refusal(json: unknown): AppError {
  try {
    parsePolicy(json, SOURCE);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('policy_invalid');
    return e as AppError;
  }
  throw new Error('expected the policy to be refused');
}
const refusedWith = (change: (p: BreakableJson) => void): string => {
  const p = raw();
  change(p);
  return refusal(p).message;
};
/** One line of the refusal, which must name the file, the rule (index and name) and the field. */
const line = (index: number, name: string, field: string, message: string) => `${SOURCE}: rules[${index}] "${name}": ${field}: ${message}`;

describe('the shipped example', () => {
  it('parses, with every risk threshold filled in', () => {
    expect(policy.rules.at(-1)).toMatchObject({ name: 'everything else', approvals: 1, when: {} });
    expect(policy.risk).toEqual({
      ...DEFAULT_RISK_THRESHOLDS,
      _comment: expect.any(String),
      rolling_credit_max: { EUR: 100000, USD: 100000, GBP: 100000, JPY: 150000 },
      // Stripe rounds each proration line on its own: one minor unit apart is rounding, not a mismatch.
      provider_amount_tolerance: { EUR: 1, USD: 1, GBP: 1, JPY: 1 },
    });
    expect(policy).toMatchObject({ reminder_after_hours: 4, escalate_after_hours: 24, escalation: { user_groups: ['S0LDLEADS'] } });
  });

  it('auto-approves upgrades, ordinary downgrades and activations', () => {
    expect(decide({ kind: 'upgrade', subtype: 'subscription', amount: { amount_minor: 20000, currency: 'EUR' } })).toMatchObject({
      rule: 'upgrades',
      approvals: 0,
    });
    expect(decide({ kind: 'downgrade', subtype: 'subscription' }, 3)).toMatchObject({ rule: 'downgrades', approvals: 0 });
    expect(status('activation')).toMatchObject({ rule: 'activations', approvals: 0 });
  });

  it('asks one approver for downgrades of enterprise-tier accounts (tier rank 4 and up) only', () => {
    expect(decide({ kind: 'downgrade', subtype: 'sla' }, 4)).toMatchObject({ rule: 'enterprise downgrades', approvals: 1 });
    expect(decide({ kind: 'downgrade', subtype: 'sla' }, 3)).toMatchObject({ rule: 'downgrades', approvals: 0 });
    expect(decide({ kind: 'downgrade', subtype: 'sla' }, null)).toMatchObject({ rule: 'downgrades' });
  });

  it('auto-approves credits strictly below 100.00, asks one approver from 100.00 and two from 1000.00', () => {
    expect(credit(-9999)).toMatchObject({ rule: 'small credits', approvals: 0 });
    expect(credit(-10000)).toMatchObject({ rule: 'credits', approvals: 1 });
    expect(credit(-99999)).toMatchObject({ rule: 'credits', approvals: 1 });
    expect(credit(-100000)).toMatchObject({ rule: 'large credits', approvals: 2 });
  });

  it('compares the absolute amount, so the sign of the record amount does not matter', () => {
    expect(credit(9999)).toMatchObject({ rule: 'small credits' });
    expect(credit(100000)).toMatchObject({ rule: 'large credits' });
  });

  it('compares thresholds in the record currency: JPY has no decimals', () => {
    expect(credit(-14999, 'JPY')).toMatchObject({ rule: 'small credits', approvals: 0 });
    expect(credit(-15000, 'JPY')).toMatchObject({ rule: 'credits', approvals: 1 });
    expect(credit(-149999, 'JPY')).toMatchObject({ rule: 'credits', approvals: 1 });
    expect(credit(-150000, 'JPY')).toMatchObject({ rule: 'large credits', approvals: 2 });
  });

  it('never matches an amount rule for a currency it does not list, nor a record without an amount', () => {
    expect(credit(-5, 'CHF')).toMatchObject({ rule: 'credits', approvals: 1 });
    expect(credit(-10_000_000, 'CHF')).toMatchObject({ rule: 'credits', approvals: 1 });
    expect(decide({ amount: null })).toMatchObject({ rule: 'credits', approvals: 1 });
  });

  it('asks one approver for every merge, closure, suspension, deactivation and reactivation', () => {
    expect(status('merge')).toMatchObject({ rule: 'merges and closures', approvals: 1 });
    expect(status('closure')).toMatchObject({ rule: 'merges and closures', approvals: 1 });
    expect(status('suspension')).toMatchObject({ rule: 'suspensions and deactivations', approvals: 1 });
    expect(status('deactivation')).toMatchObject({ rule: 'suspensions and deactivations', approvals: 1 });
    expect(status('reactivation')).toMatchObject({ rule: 'reactivations', approvals: 1 });
  });

  it('asks two approvers for a termination with a waived fee, one otherwise', () => {
    expect(termination(true)).toMatchObject({ rule: 'waived termination fees', approvals: 2 });
    expect(termination(false)).toMatchObject({ rule: 'terminations', approvals: 1 });
  });

  it('lets any risk flag force an approval of what would be auto-approved', () => {
    expect(decide({ kind: 'upgrade', subtype: 'subscription', risk_flags: ['unknown_requester'] })).toMatchObject({ rule: 'risky requests', approvals: 1 });
    expect(credit(-100, 'EUR', { risk_flags: ['agent_credit_volume'] })).toMatchObject({ rule: 'risky requests', approvals: 1 });
    expect(status('activation', { risk_flags: ['status_flip_flop'] })).toMatchObject({ rule: 'risky requests', approvals: 1 });
  });

  it('never lets a risk flag lower a two-approver decision to one', () => {
    expect(termination(true, { risk_flags: ['unknown_requester'] })).toMatchObject({ rule: 'waived termination fees', approvals: 2 });
    expect(credit(-100000, 'EUR', { risk_flags: ['credit_above_mrr_share'] })).toMatchObject({ rule: 'large credits', approvals: 2 });
  });

  it('sends everything no rule names to the catch-all, which needs an approver', () => {
    const p = parsePolicy({ ...raw(), rules: [raw().rules[at('upgrades')], raw().rules[at('everything else')]] }, SOURCE);
    expect(decidePolicy(p, record(), { accountTierRank: null })).toMatchObject({ rule: 'everything else', approvals: 1 });
  });

  it('hands the decision the default approvers, the reminder and the escalation', () => {
    expect(credit(-10000)).toEqual({
      rule: 'credits',
      approvals: 1,
      approvers: { user_ids: ['U0LDSUP01', 'U0LDSUP02'], user_groups: ['S0LDAPPROVE'] },
      reminder_after_hours: 4,
      escalate_after_hours: 24,
      escalation: { user_ids: [], user_groups: ['S0LDLEADS'] },
    });
  });

  it('lists every approver group it names', () => {
    expect(policyGroups(policy)).toEqual(['S0LDAPPROVE']);
  });
});

describe('deciding', () => {
  const base = raw();
  const policyOf = (rules: unknown[]) => parsePolicy({ ...base, rules: [...rules, { name: 'rest', approvals: 1 }] }, SOURCE);

  it('takes the first matching rule, not the strictest', () => {
    const p = policyOf([
      { name: 'first', when: { kind: 'service_credit' }, approvals: 0 },
      { name: 'second', when: { kind: 'service_credit' }, approvals: 2 },
    ]);
    expect(decidePolicy(p, record(), { accountTierRank: null })).toMatchObject({ rule: 'first', approvals: 0 });
  });

  it('needs every condition of a rule to hold', () => {
    const p = policyOf([{ name: 'big EUR outages', when: { kind: 'service_credit', subtype: 'outage', min_amount: { EUR: 1000 } }, approvals: 2 }]);
    const d = (over: Partial<LifecycleRecord>) => decidePolicy(p, record(over), { accountTierRank: null }).rule;
    expect(d({ amount: { amount_minor: -1000, currency: 'EUR' } })).toBe('big EUR outages');
    expect(d({ amount: { amount_minor: -999, currency: 'EUR' } })).toBe('rest');
    expect(d({ subtype: 'goodwill', amount: { amount_minor: -1000, currency: 'EUR' } })).toBe('rest');
  });

  it('matches a list of risk flags by any of them', () => {
    const p = policyOf([{ name: 'strangers', when: { any_risk_flag: ['unknown_requester', 'status_flip_flop'] }, approvals: 1 }]);
    const d = (flags: string[]) => decidePolicy(p, record({ risk_flags: flags }), { accountTierRank: null }).rule;
    expect(d(['status_flip_flop'])).toBe('strangers');
    expect(d(['agent_credit_volume'])).toBe('rest');
    expect(d([])).toBe('rest');
  });

  it('matches fee_waived: false only on terminations', () => {
    const p = policyOf([{ name: 'kept fees', when: { fee_waived: false }, approvals: 0 }]);
    expect(decidePolicy(p, record({ kind: 'termination', subtype: 'other', details: { fee_waived: false } }), { accountTierRank: null }).rule).toBe(
      'kept fees',
    );
    expect(decidePolicy(p, record({ kind: 'termination', subtype: 'other', details: { fee_waived: true } }), { accountTierRank: null }).rule).toBe('rest');
    expect(decidePolicy(p, record({ details: { fee_waived: false } }), { accountTierRank: null }).rule).toBe('rest');
  });

  it('uses a rule’s own approvers instead of the default set', () => {
    const p = policyOf([{ name: 'finance', when: { kind: 'service_credit' }, approvals: 2, approvers: { user_groups: ['S0LDFINANCE'] } }]);
    expect(decidePolicy(p, record(), { accountTierRank: null }).approvers).toEqual({ user_ids: [], user_groups: ['S0LDFINANCE'] });
    expect(policyGroups(p)).toEqual(['S0LDAPPROVE', 'S0LDFINANCE']);
  });
});

describe('invalid policy files are refused naming the file, the rule and the field', () => {
  it('a threshold that is not integer minor units', () => {
    const i = at('large credits');
    expect(refusedWith((p) => (p.rules[i].when.min_amount.EUR = 999.5))).toContain(
      line(i, 'large credits', 'when.min_amount.EUR', 'expected integer minor units'),
    );
  });

  it('a threshold keyed by something that is not an ISO currency', () => {
    const i = at('small credits');
    const msg = refusedWith((p) => (p.rules[i].when.max_amount = { EUR: 10000, euro: 10000, XYZ: 5 }));
    expect(msg).toContain(line(i, 'small credits', 'when.max_amount.euro', '"euro" is not an ISO 4217 currency code'));
    expect(msg).toContain(line(i, 'small credits', 'when.max_amount.XYZ', '"XYZ" is not an ISO 4217 currency code'));
  });

  it('a last rule that is not a catch-all', () => {
    const msg = refusedWith((p) => p.rules.pop());
    expect(msg).toContain(line(at('upgrades'), 'upgrades', 'when', 'the last rule must be a catch-all'));
  });

  it('a catch-all before the end, which would hide the rules after it', () => {
    const i = at('terminations');
    const msg = refusedWith((p) => delete p.rules[i].when);
    expect(msg).toContain(line(i, 'terminations', 'when', 'matches every record, so the rules after it ("merges and closures"'));
  });

  it('a rule needing approval with no approvers anywhere', () => {
    const msg = refusedWith((p) => (p.approvers = { user_ids: [], user_groups: [] }));
    expect(msg).toContain(line(0, 'waived termination fees', 'approvers', 'needs 2 approvals but names no approvers'));
    expect(msg).toContain(line(at('everything else'), 'everything else', 'approvers', 'needs 1 approval but names no approvers'));
  });

  it('a rule whose own approvers list is empty', () => {
    const i = at('credits');
    expect(refusedWith((p) => (p.rules[i].approvers = {}))).toContain(line(i, 'credits', 'approvers', 'needs 1 approval but names no approvers'));
  });

  it('two approvers required from a single person (a repeated id is still one person)', () => {
    expect(refusedWith((p) => (p.rules[0].approvers = { user_ids: ['U0LDSUP01', 'U0LDSUP01'] }))).toContain(
      line(0, 'waived termination fees', 'approvers', 'needs two distinct approvers but names only one person'),
    );
  });

  it('approvers on a rule that auto-approves', () => {
    const i = at('upgrades');
    expect(refusedWith((p) => (p.rules[i].approvers = { user_ids: ['U0LDSUP01'] }))).toContain(line(i, 'upgrades', 'approvers', 'the rule auto-approves'));
  });

  it('Slack ids of the wrong shape, in a rule and at the top level', () => {
    const i = at('terminations');
    const msg = refusedWith((p) => {
      p.rules[i].approvers = { user_ids: ['jane@corp.example'], user_groups: ['U0LDSUP01'] };
      p.escalation.user_ids = ['s0ldleads'];
    });
    expect(msg).toContain(line(i, 'terminations', 'approvers.user_ids[0]', 'expected a Slack user id such as U0123ABCD, got "jane@corp.example"'));
    expect(msg).toContain(line(i, 'terminations', 'approvers.user_groups[0]', 'expected a Slack user group id such as S0123ABCD, got "U0LDSUP01"'));
    expect(msg).toContain(`${SOURCE}: escalation.user_ids[0]: expected a Slack user id`);
  });

  it('approval counts other than 0, 1 or 2', () => {
    const i = at('small credits');
    for (const bad of [3, -1, 1.5, '1', null]) {
      expect(refusedWith((p) => (p.rules[i].approvals = bad))).toContain(line(i, 'small credits', 'approvals', 'expected 0 (auto-approve), 1 or 2'));
    }
  });

  it('two rules with the same name (ignoring case)', () => {
    const i = at('suspensions and deactivations');
    expect(refusedWith((p) => (p.rules[i].name = 'Terminations'))).toContain(
      line(i, 'Terminations', 'name', 'duplicate rule name "Terminations" (also rules['),
    );
  });

  it('a rule without a name', () => {
    const i = at('credits');
    expect(refusedWith((p) => delete p.rules[i].name)).toContain(`${SOURCE}: rules[${i}]: name: every rule needs a "name"`);
  });

  it('unknown kinds, subtypes and risk flags, naming the value', () => {
    const i = at('merges and closures');
    const msg = refusedWith((p) => {
      p.rules[i].when.kind = 'refund';
      p.rules[0].when.any_risk_flag = ['unknown_requester', 'bogus'];
    });
    expect(msg).toContain(line(i, 'merges and closures', 'when.kind', '"refund" is not a record kind; expected one of: downgrade, upgrade'));
    expect(msg).toContain(line(0, 'waived termination fees', 'when.any_risk_flag[1]', '"bogus" is not a risk flag'));
  });

  it('a subtype that does not belong to the rule’s kind', () => {
    const i = at('terminations');
    expect(refusedWith((p) => (p.rules[i].when.subtype = ['non_payment', 'merge']))).toContain(
      line(i, 'terminations', 'when.subtype[1]', '"merge" is not a subtype of termination, so the rule could never match'),
    );
  });

  it('conditions that could never match: fee_waived off terminations, empty thresholds, max not above min', () => {
    const i = at('credits');
    const msg = refusedWith((p) => (p.rules[i].when = { kind: 'service_credit', fee_waived: true, min_amount: { EUR: 500 }, max_amount: { EUR: 500 } }));
    expect(msg).toContain(line(i, 'credits', 'when.fee_waived', 'only terminations have a fee to waive'));
    expect(msg).toContain(line(i, 'credits', 'when.max_amount.EUR', '500 is not above min_amount.EUR 500'));
    expect(refusedWith((p) => (p.rules[i].when.min_amount = {}))).toContain(line(i, 'credits', 'when.min_amount', 'names no currency'));
  });

  it('any_risk_flag: false and unknown condition fields', () => {
    const msg = refusedWith((p) => {
      p.rules[0].when.any_risk_flag = false;
      p.rules[1].when.colour = 'red';
    });
    expect(msg).toContain(line(0, 'waived termination fees', 'when.any_risk_flag', 'expected true (any risk flag) or a list of flags'));
    expect(msg).toContain(line(1, 'large credits', 'when', 'unknown field "colour"; expected: kind, subtype, min_amount'));
  });

  it('hours that are not positive, or an escalation before the reminder', () => {
    expect(refusedWith((p) => (p.reminder_after_hours = 0))).toContain(
      `${SOURCE}: reminder_after_hours: reminder_after_hours must be a positive number of hours`,
    );
    expect(refusedWith((p) => (p.escalate_after_hours = -3))).toContain(
      `${SOURCE}: escalate_after_hours: escalate_after_hours must be a positive number of hours`,
    );
    expect(refusedWith((p) => (p.escalate_after_hours = 4))).toContain(`${SOURCE}: escalate_after_hours: must be later than reminder_after_hours (4)`);
  });

  it('nobody to escalate to while rules need approval', () => {
    expect(refusedWith((p) => delete p.escalation)).toContain(`${SOURCE}: escalation: names nobody, but some rules need approval`);
  });

  it('bad risk thresholds', () => {
    const msg = refusedWith((p) => {
      p.risk.rolling_credit_max.JPY = 1.5;
      p.risk.status_window_days = 0;
      p.risk.credit_mrr_share_percent = 12.345;
    });
    expect(msg).toContain(`${SOURCE}: risk.rolling_credit_max.JPY: expected integer minor units`);
    expect(msg).toContain(`${SOURCE}: risk.status_window_days: status_window_days must be at least 1 day`);
    expect(msg).toContain(`${SOURCE}: risk.credit_mrr_share_percent: credit_mrr_share_percent may have at most 2 decimal places`);
  });

  it('a document that is not a policy at all', () => {
    expect(refusal([]).message).toMatch(/^Approval policy config\/policy\.json is invalid; fix this and restart:\n {2}config\/policy\.json: \(top level\): /);
    expect(refusal({ rules: [] }).message).toContain(`${SOURCE}: rules: at least one rule is needed`);
  });

  it('lists every problem at once, and carries them as structured problems', () => {
    const e = refusal({ ...raw(), reminder_after_hours: 0, rules: [{ name: 'x', approvals: 7 }] });
    expect(e.message).toMatch(/fix these 2 problems and restart/);
    expect(e.problems).toEqual([
      { field: 'reminder_after_hours', message: expect.stringMatching(/positive/) },
      { field: 'rules[0] "x": approvals', message: 'expected 0 (auto-approve), 1 or 2' },
    ]);
    expect(e.options.details).toEqual({ source: SOURCE });
  });
});

describe('accepted shorthands', () => {
  it('a single kind or subtype instead of a list, any_risk_flag: true, omitted defaults', () => {
    const p = parsePolicy(
      {
        approvers: { user_groups: ['S0LDAPPROVE'] },
        escalation: { user_ids: ['W0LDLEAD01'] },
        rules: [
          { name: 'flagged', when: { any_risk_flag: true }, approvals: 1 },
          { name: 'closures', when: { kind: 'status_change', subtype: 'closure' }, approvals: 1 },
          { name: 'rest', approvals: 0 },
        ],
      },
      SOURCE,
    );
    expect(p).toMatchObject({ reminder_after_hours: 4, escalate_after_hours: 24, risk: DEFAULT_RISK_THRESHOLDS });
    expect(p.approvers.user_ids).toEqual([]);
    expect(decidePolicy(p, record({ kind: 'status_change', subtype: 'closure', amount: null }), { accountTierRank: null }).rule).toBe('closures');
    expect(decidePolicy(p, record({ risk_flags: ['credit_rolling_total'] }), { accountTierRank: null }).rule).toBe('flagged');
  });

  it('names a single kind written as a string without a list index', () => {
    const e = refusal({
      approvers: { user_ids: ['U0LDSUP01'] },
      escalation: { user_ids: ['U0LDSUP02'] },
      rules: [
        { name: 'a', when: { kind: 'refunds' }, approvals: 1 },
        { name: 'b', approvals: 1 },
      ],
    });
    expect(e.message).toContain(`${SOURCE}: rules[0] "a": when.kind: "refunds" is not a record kind`);
  });
});
