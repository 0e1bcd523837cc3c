import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { LedgerLeg } from '../records/billing';
import type { LedgerRepository } from '../records/ports';

/**
 * The double-entry ledger (migrations/…_create_ledger): append-only, and a deferred trigger refuses
 * any transaction whose debits and credits differ. Balances are kept per ledger account in the same
 * transaction by a trigger on ledger_entries (migrations/…_maintain_ledger_balances_by_trigger).
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
      // One statement: the ledger's own trigger adds the legs to ledger_balances (the service's
      // role may not write balances itself).
      await this.db('ledger_entries').insert(legs.map((l) => ({ ...l, transaction_id: id })));
    }
    return true;
  }

  async balance(ledgerAccount: string, currency: string): Promise<number> {
    const row = await this.db('ledger_balances').where({ ledger_account: ledgerAccount, currency }).first('balance_minor');
    return row ? Number(row.balance_minor) : 0;
  }
}
