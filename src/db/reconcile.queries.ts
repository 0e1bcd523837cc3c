import type { Knex } from 'knex';
import { LEDGER_ACCOUNTS } from '../records/billing';
import type { Difference } from '../records/reconcile';
import type { ReconcileSource, StoredAccountSnapshot } from '../app/reconcile';
import { KnexAccountRepository } from './accounts.repository';
import { accountFromRow } from './mappers';
import type { AccountRow } from './mappers';
import { bookFromRow } from './billing-book.repository';

/**
 * What `reconcile` reads from PostgreSQL: accounts with their billing books and ledger customer
 * balances, in three statements, plus the ledger's own integrity (every transaction balanced,
 * every kept balance equal to its entries).
 */
export class KnexReconcileSource implements ReconcileSource {
  constructor(private readonly db: Knex) {}

  async load(accountId?: string): Promise<{ accounts: StoredAccountSnapshot[]; ledgerProblems: Difference[] }> {
    const accounts = accountId
      ? [...(await new KnexAccountRepository(this.db).getMany([accountId])).values()]
      : (await this.db<AccountRow>('accounts').orderBy('id')).map(accountFromRow);
    const ids = accounts.map((a) => a.id);
    const books = new Map((await this.db('billing_books').whereIn('account_id', ids)).map((r) => [r.account_id as string, bookFromRow(r)]));
    const balanceRows = await this.db('ledger_balances')
      .whereIn('ledger_account', ids.map(LEDGER_ACCOUNTS.customerBalance))
      .select('ledger_account', 'currency', 'balance_minor');
    const balances = new Map(
      balanceRows.map((r: { ledger_account: string; currency: string; balance_minor: string }) => [
        `${r.ledger_account}\u0000${r.currency}`,
        Number(r.balance_minor),
      ]),
    );
    return {
      accounts: accounts.map((account) => ({
        account,
        book: books.get(account.id) ?? null,
        ledgerBalance: {
          amount_minor: balances.get(`${LEDGER_ACCOUNTS.customerBalance(account.id)}\u0000${account.currency}`) ?? 0,
          currency: account.currency,
        },
      })),
      ledgerProblems: await this.ledgerProblems(accountId),
    };
  }

  private async ledgerProblems(accountId?: string): Promise<Difference[]> {
    const out: Difference[] = [];
    const unbalanced = await this.db.raw<{ rows: { transaction_id: string; account_id: string; currency: string; d: string; c: string }[] }>(
      `SELECT e.transaction_id, t.account_id, e.currency, sum(e.debit_minor) AS d, sum(e.credit_minor) AS c
         FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
        ${accountId ? 'WHERE t.account_id = ?' : ''}
        GROUP BY 1, 2, 3 HAVING sum(e.debit_minor) <> sum(e.credit_minor)`,
      accountId ? [accountId] : [],
    );
    for (const r of unbalanced.rows) {
      out.push({
        account_id: r.account_id,
        field: 'ledger',
        accounts: null,
        ledger: `${r.d} debit / ${r.c} credit ${r.currency}`,
        provider: null,
        message: `ledger transaction ${r.transaction_id} does not balance in ${r.currency}`,
      });
    }
    const scoped = accountId ? [LEDGER_ACCOUNTS.receivable(accountId), LEDGER_ACCOUNTS.customerBalance(accountId)] : null;
    const drift = await this.db.raw<{ rows: { ledger_account: string; currency: string; kept: string; summed: string }[] }>(
      `SELECT b.ledger_account, b.currency, b.balance_minor AS kept, coalesce(e.s, 0) AS summed FROM ledger_balances b
         LEFT JOIN (SELECT ledger_account, currency, sum(debit_minor - credit_minor) AS s FROM ledger_entries GROUP BY 1, 2) e USING (ledger_account, currency)
        WHERE b.balance_minor <> coalesce(e.s, 0) ${scoped ? 'AND b.ledger_account = ANY(?)' : ''}`,
      scoped ? [scoped] : [],
    );
    for (const r of drift.rows) {
      const owner = /^(receivable|balance):(.+)$/.exec(r.ledger_account)?.[2] ?? '(ledger)';
      out.push({
        account_id: owner,
        field: 'ledger',
        accounts: null,
        ledger: `${r.kept} kept, ${r.summed} in entries`,
        provider: null,
        message: `ledger balance ${r.ledger_account} (${r.currency}) differs from its entries`,
      });
    }
    return out;
  }
}
