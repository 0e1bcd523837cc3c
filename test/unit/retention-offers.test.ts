import { parsePolicy } from '../../src/records/policy';
import {
  describeOffer,
  discountPeriods,
  linkedRequest,
  offerState,
  retentionCatalogProblems,
  retentionRuleFor,
  RetentionPolicySchema,
  winBackDue,
} from '../../src/records/retention-offers';
import type { RetentionPolicy } from '../../src/records/retention-offers';
import type { LifecycleRecord } from '../../src/records/kinds';
import { buildAccount, buildCatalog } from '../helpers/builders';

const minimalPolicy = (retention: unknown) => ({ rules: [{ name: 'all', approvals: 0 }], retention_offers: retention });

const retention: RetentionPolicy = RetentionPolicySchema.parse({
  offers: [
    { name: 'budget', when: { kind: 'termination', reason_code: ['budget_cut'] }, offer: { type: 'pause', months: 2 } },
    { name: 'breach never', when: { kind: 'termination', subtype: 'breach' }, offer: { type: 'discount', percent: 10, months: 1 } },
    { name: 'downgrades', when: { kind: ['downgrade', 'termination'], reason_code: 'price' }, offer: { type: 'discount', percent: 15, months: 3 } },
  ],
  win_back: { after_days: 45, via: 'slack' },
});

const record = (over: Partial<LifecycleRecord>): LifecycleRecord => ({
  id: '00000000-0000-4000-8000-000000000001',
  kind: 'termination',
  subtype: 'customer_initiated',
  account_id: 'acc_acme',
  ticket_id: null,
  requested_by: 'agent',
  requester: null,
  reason_code: 'price',
  reason_text: '',
  effective: 'end_of_term',
  effective_at: '2026-04-01T00:00:00.000Z',
  state: 'submitted',
  version: 1,
  details: {},
  amount: null,
  risk_flags: [],
  problems: [],
  created_at: '2026-03-16T12:00:00.000Z',
  updated_at: '2026-03-16T12:00:00.000Z',
  ...over,
});

describe('which offer a request gets', () => {
  it('the first rule whose kind, reason and subtype match', () => {
    expect(retentionRuleFor(retention, record({ reason_code: 'budget_cut' }))?.name).toBe('budget');
    expect(retentionRuleFor(retention, record({ kind: 'downgrade', subtype: 'subscription' }))?.name).toBe('downgrades');
    expect(retentionRuleFor(retention, record({ subtype: 'breach', reason_code: 'breach' }))?.name).toBe('breach never');
    expect(retentionRuleFor(retention, record({ reason_code: 'business_closed' }))).toBeNull();
    expect(retentionRuleFor(retention, record({ kind: 'upgrade', reason_code: 'price' }))).toBeNull();
    expect(retentionRuleFor(undefined, record({}))).toBeNull();
  });

  it('reads the offer state from the record only when it is well formed', () => {
    expect(offerState(record({ details: { retention_offer: { offer: 'x', outcome: 'pending' } } }))).toEqual({ offer: 'x', outcome: 'pending' });
    expect(offerState(record({ details: { retention_offer: { offer: 'x', outcome: 'maybe' } } }))).toBeNull();
    expect(offerState(record({}))).toBeNull();
  });
});

describe('the offer in words and as records', () => {
  it('describes each offer', () => {
    expect(describeOffer({ type: 'discount', percent: 20, months: 1 })).toBe('20% off for 1 month');
    expect(describeOffer({ type: 'pause', months: 3 })).toBe('a pause of 3 months');
    expect(describeOffer({ type: 'downgrade', to_plan: 'starter' }, (id) => id.toUpperCase())).toBe('a move to the STARTER plan');
  });

  it('a pause is a suspension reviewed N months on (end of a short month clamps)', () => {
    const req = linkedRequest({ type: 'pause', months: 1 }, record({}), 'agent-1', new Date('2026-01-31T10:00:00Z'));
    expect(req).toMatchObject({
      kind: 'status_change',
      subtype: 'suspension',
      requested_by: 'agent-1',
      reason_code: 'retention_offer',
      effective: 'immediate',
    });
    expect((req.details as { suspension: { review_date: string } }).suspension.review_date).toBe('2026-02-28');
  });

  it('a discount covers the current month and the next ones, percent of the monthly price rounded half up', () => {
    const periods = discountPeriods(
      { type: 'discount', percent: 15, months: 2 },
      buildAccount({ plan_id: 'starter' }),
      buildCatalog(),
      new Date('2026-03-16T12:00:00Z'),
    )!;
    const starter = buildCatalog().plans.find((p) => p.id === 'starter')!.prices.EUR!;
    expect(periods.map((p) => [p.index, p.start.toISOString(), p.end.toISOString()])).toEqual([
      [1, '2026-03-01T00:00:00.000Z', '2026-04-01T00:00:00.000Z'],
      [2, '2026-04-01T00:00:00.000Z', '2026-05-01T00:00:00.000Z'],
    ]);
    expect(periods[0]!.credit).toEqual({ amount_minor: Math.floor((starter * 15 + 50) / 100), currency: 'EUR' });
  });

  it('the win-back is due N days after the termination instant, and never without one', () => {
    expect(winBackDue(record({}), 45)!.toISOString()).toBe('2026-05-16T00:00:00.000Z');
    expect(winBackDue(record({ effective_at: null }), 45)).toBeNull();
  });
});

describe('the policy file', () => {
  it('takes the example section and refuses offers that could not work, naming where', () => {
    expect(parsePolicy(minimalPolicy({ offers: [] }), 'p.json').retention_offers).toEqual({ offers: [] });
    const bad = (retentionSection: unknown) => () => parsePolicy(minimalPolicy(retentionSection), 'p.json');
    expect(bad({ offers: [{ name: 'x', when: { kind: 'status_change' }, offer: { type: 'pause', months: 1 } }] })).toThrow(
      /retention_offers\.offers\[0\]\.when\.kind: offers are made on terminations and downgrades only/,
    );
    expect(bad({ offers: [{ name: 'x', when: { kind: 'termination' }, offer: { type: 'discount', percent: 120, months: 1 } }] })).toThrow(
      /percent: expected 1 to 100/,
    );
    expect(bad({ offers: [{ name: 'x', when: { kind: 'termination' }, offer: { type: 'gift' } }] })).toThrow(/expected an offer/);
    expect(bad({ win_back: { after_days: 30, via: 'fax' } })).toThrow(/win_back\.via/);
  });

  it('names a downgrade offer whose plan the catalog does not have', () => {
    const r = RetentionPolicySchema.parse({ offers: [{ name: 'keep', when: { kind: 'termination' }, offer: { type: 'downgrade', to_plan: 'platinum' } }] });
    expect(retentionCatalogProblems(r, buildCatalog())).toEqual([
      expect.stringMatching(/^retention_offers\.offers\[0\] "keep": offer\.to_plan: "platinum" is not a plan of the catalog; expected one of: free, starter/),
    ]);
    expect(retentionCatalogProblems(retention, buildCatalog())).toEqual([]);
  });
});
