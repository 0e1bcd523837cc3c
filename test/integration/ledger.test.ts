import fc from 'fast-check';
import { LedgerBillingProvider, LEDGER_ACCOUNTS } from '../../src/integrations/billing/ledger.provider';
import type { BillingAdjustment } from '../../src/records/ports';
import type { Kind } from '../../src/records/kinds';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';

let t: TestDb;
let ledger: LedgerBillingProvider;
beforeAll(async () => {
  t = await createTestDb();
  ledger = new LedgerBillingProvider(t.db);
});
afterAll(async () => {
  await t.destroy();
});

let n = 0;
const adjustment = (over: Partial<BillingAdjustment> = {}): BillingAdjustment => ({
  idempotencyKey: `billing.test-${++n}.apply`,
  recordId: '00000000-0000-4000-8000-000000000001',
  accountId: 'acc_1',
  billingCustomerId: null,
  kind: 'service_credit',
  subtype: 'outage',
  amount: { amount_minor: -1500, currency: 'EUR' },
  toPlan: null,
  fromPlan: null,
  cancelAtPeriodEnd: false,
  effectiveAt: null,
  description: 'test',
  ...over,
});

it('posts a credit as two balanced legs and lowers the customer balance', async () => {
  const before = await ledger.balance('acc_credit', 'EUR');
  const { providerRef } = await ledger.applyAdjustment(adjustment({ accountId: 'acc_credit' }));
  expect(providerRef).toMatch(/^ledger:/);
  const legs = await t.db('ledger_entries').where({ transaction_id: providerRef.slice(7) }).orderBy('ledger_account');
  expect(legs.map((l: { ledger_account: string; debit_minor: string; credit_minor: string }) => [l.ledger_account, l.debit_minor, l.credit_minor])).toEqual([
    [LEDGER_ACCOUNTS.serviceCredits, '1500', '0'],
    [LEDGER_ACCOUNTS.receivable('acc_credit'), '0', '1500'],
  ]);
  expect(await ledger.balance('acc_credit', 'EUR')).toBe(before - 1500);
});

it('posts an adjustment once however often it is sent with the same key', async () => {
  const adj = adjustment({ accountId: 'acc_idem', amount: { amount_minor: 4200, currency: 'JPY' }, kind: 'upgrade' });
  const refs = await Promise.all(Array.from({ length: 8 }, () => ledger.applyAdjustment(adj)));
  expect(new Set(refs.map((r) => r.providerRef)).size).toBe(1);
  expect(await ledger.balance('acc_idem', 'JPY')).toBe(4200);
  expect(Number((await t.db('ledger_transactions').where({ idempotency_key: adj.idempotencyKey }).count('* as n'))[0]!.n)).toBe(1);
});

it('refuses an unbalanced transaction at commit, even from a direct write', async () => {
  await expect(
    t.db.transaction(async (trx) => {
      await trx('ledger_transactions').insert({ id: '00000000-0000-4000-8000-00000000abcd', idempotency_key: 'manual', account_id: 'x', description: 'bad' });
      await trx('ledger_entries').insert({ transaction_id: '00000000-0000-4000-8000-00000000abcd', ledger_account: 'receivable:x', debit_minor: 100, credit_minor: 0, currency: 'EUR' });
    }),
  ).rejects.toThrow(/does not balance in EUR/);
});

it('refuses to update or delete posted entries', async () => {
  await expect(t.db.raw('UPDATE ledger_entries SET debit_minor = 1')).rejects.toThrow(/permission denied|append-only/);
  await expect(t.admin.raw('DELETE FROM ledger_entries')).rejects.toThrow(/append-only/);
});

it('keeps the books balanced and every balance equal to its entries after random adjustments (property)', async () => {
  const kinds: Kind[] = ['downgrade', 'upgrade', 'termination', 'status_change', 'service_credit'];
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          account: fc.constantFrom('p1', 'p2', 'p3'),
          kind: fc.constantFrom(...kinds),
          amount: fc.integer({ min: -1_000_000, max: 1_000_000 }),
          currency: fc.constantFrom('EUR', 'JPY', 'KWD'),
          replay: fc.boolean(),
        }),
        { minLength: 1, maxLength: 25 },
      ),
      async (ops) => {
        for (const op of ops) {
          const adj = adjustment({ accountId: op.account, kind: op.kind, amount: { amount_minor: op.amount, currency: op.currency } });
          await ledger.applyAdjustment(adj);
          if (op.replay) await ledger.applyAdjustment(adj);
        }
        const totals = await t.db('ledger_entries').select('currency').sum('debit_minor as d').sum('credit_minor as c').groupBy('currency');
        for (const row of totals) expect(row.d).toBe(row.c);
        const mismatched = await t.db.raw(`
          SELECT b.ledger_account, b.currency FROM ledger_balances b
          LEFT JOIN (SELECT ledger_account, currency, sum(debit_minor - credit_minor) AS s FROM ledger_entries GROUP BY 1, 2) e
            USING (ledger_account, currency)
          WHERE b.balance_minor <> coalesce(e.s, 0)`);
        expect(mismatched.rows).toEqual([]);
      },
    ),
    { numRuns: 30 },
  );
});
