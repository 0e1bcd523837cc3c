import fc from 'fast-check';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { applyRecord, failRecord } from '../../src/app/apply-record';
import { AppError } from '../../src/records/errors';
import type { Kind } from '../../src/records/kinds';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock, buildDeps } from '../helpers/app';
import { buildRequest } from '../helpers/builders';
import type { RequestOverrides } from '../helpers/builders';
import { DAY_MS, accountOf, day, ledgerHarness, openAccount, reconcileAccounts, stripeHarness } from '../helpers/billing-rows';
import type { Harness, RowContext } from '../helpers/billing-rows';

/**
 * Property: whatever sequence of approved records one account goes through (plan changes both
 * ways, credits of any size for any past window, suspensions, reactivations, deactivations,
 * terminations with or without fee and refund, closures), the ledger balances and `reconcile`
 * finds the accounts table, the ledger and the provider in agreement: 0 differences.
 */
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.destroy();
});

const PLANS = ['starter', 'growth', 'business', 'enterprise'];

type Op =
  | { op: 'plan'; to: number; when: 'immediate' | 'default' }
  | { op: 'credit'; amount: number; start: number; subtype: 'outage' | 'goodwill' | 'sla_breach' }
  | { op: 'status'; subtype: 'suspension' | 'reactivation' | 'deactivation' | 'closure' }
  | { op: 'terminate'; waived: boolean; refund: number };

// A termination or closure ends most sequences (little is valid after it), so they come less often.
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('plan' as const),
      to: fc.integer({ min: 0, max: 3 }),
      when: fc.constantFrom('immediate' as const, 'default' as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('credit' as const),
      amount: fc.integer({ min: 1, max: 300 }),
      start: fc.integer({ min: -40, max: -2 }),
      subtype: fc.constantFrom('outage' as const, 'goodwill' as const, 'sla_breach' as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('status' as const),
      subtype: fc.constantFrom('suspension' as const, 'reactivation' as const, 'reactivation' as const, 'deactivation' as const, 'closure' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('terminate' as const), waived: fc.boolean(), refund: fc.constantFrom(0, 0, 300, 900) }) },
);

function requestOf(op: Op, plan: string): [Kind, RequestOverrides<Kind>] {
  switch (op.op) {
    case 'plan': {
      const to = PLANS[op.to]!;
      const kind = PLANS.indexOf(to) > PLANS.indexOf(plan) ? 'upgrade' : 'downgrade';
      return [kind, { ...(op.when === 'immediate' ? { effective: 'immediate' } : {}), details: { to_plan: to } }];
    }
    case 'credit':
      return [
        'service_credit',
        {
          subtype: op.subtype,
          effective: 'immediate',
          details: {
            period_start: new Date(Date.now() + op.start * DAY_MS).toISOString(),
            period_end: new Date(Date.now() + (op.start + 1) * DAY_MS).toISOString(),
            requested_credit: { amount_minor: op.amount, currency: 'EUR' },
          },
        },
      ];
    case 'status':
      return [
        'status_change',
        { subtype: op.subtype, effective: 'immediate', details: op.subtype === 'suspension' ? { suspension: { cause: 'unpaid', review_date: day(10) } } : {} },
      ];
    case 'terminate':
      return [
        'termination',
        { effective: 'immediate', details: { fee_waived: op.waived, ...(op.refund ? { refund: { amount_minor: op.refund, currency: 'EUR' } } : {}) } },
      ];
  }
}

async function ledgerBalanced(): Promise<void> {
  const totals = await t.db('ledger_entries').select('currency').sum('debit_minor as d').sum('credit_minor as c').groupBy('currency');
  for (const row of totals) expect(row.d).toBe(row.c);
}

describe.each([['stripe'], ['ledger']] as const)('%s', (name) => {
  it('random sequences of approved records: the ledger balances and reconcile finds 0 differences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 8 }), async (ops) => {
        const h: Harness = name === 'stripe' ? await stripeHarness() : await ledgerHarness(t);
        try {
          const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
          const { account } = await openAccount(ctx, { contacts: ['ops@row.example'], mrr_minor: 9900 });
          const deps = buildDeps(t.db, ctx.clock);
          for (const op of ops) {
            const current = await accountOf(ctx, account.id);
            const [kind, over] = requestOf(op, current.plan_id);
            let recordId: string;
            try {
              ({
                record: { id: recordId },
              } = await createRecord(deps, {
                request: buildRequest(kind, { account_id: account.id, requester: { email: 'ops@row.example' }, ...over }),
                actor: { role: 'agent', id: 'prop' },
                onProblems: 'reject',
              }));
            } catch (e) {
              // Not a valid request for the account as it now is (a reactivation of an active account…): never approved.
              if (e instanceof AppError && e.code === 'validation_failed') continue;
              throw e;
            }
            await transitionRecord(deps, { recordId, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
            try {
              await applyRecord({ ...deps, billing: h.provider }, recordId);
            } catch (e) {
              // The provider refused before changing anything (a plan change on an ended subscription): the record fails.
              if (!(e instanceof AppError) || e.retryable) throw e;
              await failRecord(deps, recordId, e.message);
            }
          }
          await ledgerBalanced();
          expect((await reconcileAccounts(ctx, account.id)).differences).toEqual([]);
          if ('stripe' in h) expect((h as Awaited<ReturnType<typeof stripeHarness>>).stripe.duplicatedEffects()).toEqual([]);
        } finally {
          await h.close();
        }
      }),
      { numRuns: name === 'stripe' ? 40 : 25 },
    );
  }, 120_000);
});
