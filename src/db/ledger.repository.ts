import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { LedgerLeg } from '../records/billing';
import type { LedgerRepository } from '../records/ports';

/**
 * The double-entry ledger (migrations/…_create_ledger): append-only, and a deferred trigger refuses
 * any transaction whose debits and credits differ. Balances are kept per ledger account in the same
 * transaction, their rows locked in sorted order so concurrent postings cannot deadlock.
 */
export class KnexLedgerRepository implements LedgerRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async post(entry: { key: string; recordId: string | null; accountId: string; description: string; legs: readonly LedgerLeg[] }): Promise<boolean> {
    const id = randomUUID();
    const inserted = await this.db('ledger_transactions')
      .insert({ id, idempotency_key: entry.key, record_id: entry.recordId, account_id: entry.accountId, description: entry.description.slice(0, 500) })
      .onConflict('idempotency_key')
      .ignore()
      .returning('id');
    if (inserted.length === 0) return false;
    const legs = entry.legs.filter((l) => l.debit_minor > 0 || l.credit_minor > 0);
    if (legs.length) {
      await this.db('ledger_entries').insert(legs.map((l) => ({ ...l, transaction_id: id })));
      const net = new Map<string, { account: string; currency: string; delta: number }>();
      for (const l of legs) {
        const k = `${l.ledger_account}\u0000${l.currency}`;
        const cur = net.get(k) ?? { account: l.ledger_account, currency: l.currency, delta: 0 };
        cur.delta += l.debit_minor - l.credit_minor;
        net.set(k, cur);
      }
      for (const n of [...net.values()].sort((a, b) => a.account.localeCompare(b.account) || a.currency.localeCompare(b.currency))) {
        await this.db.raw(
          `INSERT INTO ledger_balances (ledger_account, currency, balance_minor) VALUES (?, ?, ?)
           ON CONFLICT (ledger_account, currency) DO UPDATE SET balance_minor = ledger_balances.balance_minor + EXCLUDED.balance_minor`,
          [n.account, n.currency, n.delta],
        );
      }
    }
    return true;
  }

  async balance(ledgerAccount: string, currency: string): Promise<number> {
    const row = await this.db('ledger_balances').where({ ledger_account: ledgerAccount, currency }).first('balance_minor');
    return row ? Number(row.balance_minor) : 0;
  }
}
