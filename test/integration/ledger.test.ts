import fc from 'fast-check';
import { KnexLedgerRepository } from '../../src/db/ledger.repository';
import { LEDGER_ACCOUNTS, legsFor } from '../../src/records/billing';
import type { ConfirmedMoney } from '../../src/records/billing';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';

let t: TestDb;
let ledger: KnexLedgerRepository;
beforeAll(async () => {
  t = await createTestDb();
  ledger = new KnexLedgerRepository(t.db);
});
afterAll(async () => {
  await t.destroy();
});

let n = 0;
const post = (accountId: string, money: ConfirmedMoney[], key = `billing.test-${++n}.apply`) =>
  ledger.post({ key, recordId: '00000000-0000-4000-8000-000000000001', accountId, description: 'test', legs: legsFor(accountId, money) });
const eur = (amount_minor: number) => ({ amount_minor, currency: 'EUR' });

it('posts a balance credit as two balanced legs and lowers the customer balance', async () => {
  await post('acc_credit', [{ type: 'credit', purpose: 'service_credit', amount: eur(1500), destination: 'balance' }], 'billing.credit.apply');
  const tx = await t.db('ledger_transactions').where({ idempotency_key: 'billing.credit.apply' }).first();
  const legs = await t.db('ledger_entries').where({ transaction_id: tx.id }).orderBy('ledger_account');
  expect(legs.map((l: { ledger_account: string; debit_minor: string; credit_minor: string }) => [l.ledger_account, l.debit_minor, l.credit_minor])).toEqual([
    [LEDGER_ACCOUNTS.customerBalance('acc_credit'), '0', '1500'],
    [LEDGER_ACCOUNTS.serviceCredits, '1500', '0'],
  ]);
  expect(await ledger.balance(LEDGER_ACCOUNTS.customerBalance('acc_credit'), 'EUR')).toBe(-1500);
});

it('posts once however often the same key is posted, even at once', async () => {
  const money: ConfirmedMoney[] = [{ type: 'charge', purpose: 'fee', amount: { amount_minor: 4200, currency: 'JPY' }, destination: 'invoice' }];
  const firsts = await Promise.all(
    Array.from({ length: 8 }, () =>
      t.db.transaction((trx) =>
        new KnexLedgerRepository(trx).post({
          key: 'billing.idem.fee',
          recordId: null,
          accountId: 'acc_idem',
          description: 'fee',
          legs: legsFor('acc_idem', money),
        }),
      ),
    ),
  );
  expect(firsts.filter(Boolean)).toHaveLength(1);
  expect(await ledger.balance(LEDGER_ACCOUNTS.receivable('acc_idem'), 'JPY')).toBe(4200);
  expect(await ledger.balance(LEDGER_ACCOUNTS.feeRevenue, 'JPY')).toBe(-4200);
});

it("moves a merged account's credit to the target", async () => {
  await post('acc_src', [{ type: 'transfer', purpose: 'merge_balance', amount: eur(700), destination: 'balance', to_account_id: 'acc_dst' }]);
  expect(await ledger.balance(LEDGER_ACCOUNTS.customerBalance('acc_src'), 'EUR')).toBe(700);
  expect(await ledger.balance(LEDGER_ACCOUNTS.customerBalance('acc_dst'), 'EUR')).toBe(-700);
});

it('refuses an unbalanced transaction at commit, even from a direct write', async () => {
  await expect(
    t.db.transaction(async (trx) => {
      await trx('ledger_transactions').insert({ id: '00000000-0000-4000-8000-00000000abcd', idempotency_key: 'manual', account_id: 'x', description: 'bad' });
      await trx('ledger_entries').insert({
        transaction_id: '00000000-0000-4000-8000-00000000abcd',
        ledger_account: 'receivable:x',
        debit_minor: 100,
        credit_minor: 0,
        currency: 'EUR',
      });
    }),
  ).rejects.toThrow(/does not balance in EUR/);
});

it('refuses to update or delete posted entries', async () => {
  await expect(t.db.raw('UPDATE ledger_entries SET debit_minor = 1')).rejects.toThrow(/permission denied|append-only/);
  await expect(t.admin.raw('DELETE FROM ledger_entries')).rejects.toThrow(/append-only/);
});

it('keeps the books balanced and every balance equal to its entries after random postings (property)', async () => {
  const money = fc.record({
    type: fc.constantFrom('charge', 'credit', 'refund', 'transfer') as fc.Arbitrary<ConfirmedMoney['type']>,
    purpose: fc.constantFrom('proration', 'service_credit', 'fee', 'termination_refund', 'merge_balance') as fc.Arbitrary<ConfirmedMoney['purpose']>,
    destination: fc.constantFrom('invoice', 'balance', 'payment') as fc.Arbitrary<ConfirmedMoney['destination']>,
    amount: fc.record({ amount_minor: fc.integer({ min: 0, max: 1_000_000 }), currency: fc.constantFrom('EUR', 'JPY', 'KWD') }),
    to_account_id: fc.constantFrom('p1', 'p2', 'p3'),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.record({ account: fc.constantFrom('p1', 'p2', 'p3'), money: fc.array(money, { maxLength: 3 }), replay: fc.boolean() }), {
        minLength: 1,
        maxLength: 25,
      }),
      async (ops) => {
        for (const op of ops) {
          const key = `billing.prop-${++n}.apply`;
          await post(op.account, op.money, key);
          if (op.replay) expect(await post(op.account, op.money, key)).toBe(false);
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
