import type { Knex } from 'knex';
import type { Account } from '../records/accounts';
import { AppError } from '../records/errors';
import type { AccountRepository } from '../records/ports';
import { accountFromRow, accountToRow } from './mappers';
import type { AccountRow } from './mappers';

export class KnexAccountRepository implements AccountRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async get(id: string): Promise<Account | null> {
    const row = await this.db<AccountRow>('accounts').where({ id }).first();
    return row ? accountFromRow(row) : null;
  }

  async getMany(ids: readonly string[]): Promise<Map<string, Account>> {
    const out = new Map<string, Account>();
    if (ids.length === 0) return out;
    const rows = await this.db<AccountRow>('accounts').whereIn('id', [...new Set(ids)]);
    for (const row of rows) out.set(row.id, accountFromRow(row));
    return out;
  }

  async getForUpdate(id: string): Promise<Account | null> {
    const row = await this.db<AccountRow>('accounts').where({ id }).forUpdate().first();
    return row ? accountFromRow(row) : null;
  }

  async findByBillingCustomerForUpdate(customerId: string): Promise<Account | null> {
    const rows = await this.db<AccountRow>('accounts').where({ billing_customer_id: customerId }).forUpdate().limit(2);
    return rows.length === 1 ? accountFromRow(rows[0]!) : null;
  }

  async update(account: Account): Promise<void> {
    const { id, ...row } = accountToRow(account);
    const q = this.db('accounts').where({ id });
    if (account.version !== undefined) q.andWhere({ version: account.version });
    const n = await q.update({ ...row, version: this.db.raw('version + 1'), updated_at: this.db.fn.now() });
    if (n !== 1) {
      // Retryable: a job that lost the race simply runs again on the new state.
      throw new AppError('conflict', `Account ${id} changed since it was read or does not exist; reload it and try again`, {
        details: { account_id: id },
        retryable: true,
      });
    }
  }

  async upsertMany(accounts: readonly Account[]): Promise<void> {
    // Accounts merged into others go last so the merged_into foreign key finds its target.
    const ordered = [...accounts].sort((a, b) => Number(a.merged_into !== null) - Number(b.merged_into !== null));
    for (let i = 0; i < ordered.length; i += 500) {
      const rows = ordered.slice(i, i + 500).map((a) => ({ ...accountToRow(a), updated_at: this.db.fn.now() }));
      await this.db('accounts')
        .insert(rows)
        .onConflict('id')
        .merge(Object.keys(rows[0]!).filter((k) => k !== 'id'));
    }
  }
}
