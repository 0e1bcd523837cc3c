import type { Knex } from 'knex';
import type { BillingBook, BookStatus } from '../records/billing';
import type { BillingBookRepository } from '../records/ports';

interface BookRow {
  account_id: string;
  plan_id: string | null;
  next_plan_id: string | null;
  status: string;
  cancel_at: Date | null;
  pause_resumes_at: Date | null;
  external_event_at: Date | null;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export const bookFromRow = (r: BookRow): BillingBook => ({
  account_id: r.account_id,
  plan_id: r.plan_id,
  next_plan_id: r.next_plan_id,
  status: r.status as BookStatus,
  cancel_at: iso(r.cancel_at),
  pause_resumes_at: iso(r.pause_resumes_at),
  external_event_at: iso(r.external_event_at),
});

export class KnexBillingBookRepository implements BillingBookRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async getForUpdate(accountId: string): Promise<BillingBook | null> {
    const row = await this.db<BookRow>('billing_books').where({ account_id: accountId }).forUpdate().first();
    return row ? bookFromRow(row) : null;
  }

  async get(accountId: string): Promise<BillingBook | null> {
    const row = await this.db<BookRow>('billing_books').where({ account_id: accountId }).first();
    return row ? bookFromRow(row) : null;
  }

  async save(book: BillingBook, recordId: string | null): Promise<void> {
    const row = {
      account_id: book.account_id,
      plan_id: book.plan_id,
      next_plan_id: book.next_plan_id,
      status: book.status,
      cancel_at: book.cancel_at,
      pause_resumes_at: book.pause_resumes_at,
      external_event_at: book.external_event_at,
      last_record_id: recordId,
      updated_at: this.db.fn.now(),
    };
    await this.db('billing_books').insert(row).onConflict('account_id').merge();
  }
}
