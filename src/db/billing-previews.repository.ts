import type { Knex } from 'knex';
import type { Money } from '../records/money';
import type { BillingPreview, BillingPreviewRepository, StoredPreview } from '../records/ports';

interface PreviewRow {
  provider: string;
  amount_minor: string | null;
  computed_minor: string | null;
  difference_minor: string | null;
  outstanding_minor: string | null;
  currency: string | null;
  proration_date: Date | null;
  unavailable: string | null;
  created_at: Date;
}

const money = (minor: string | null, currency: string | null): Money | null =>
  minor === null || currency === null ? null : { amount_minor: Number(minor), currency };

export class KnexBillingPreviewRepository implements BillingPreviewRepository {
  constructor(private readonly db: Knex | Knex.Transaction) {}

  async save(recordId: string, p: BillingPreview & { computed: Money | null; difference: Money | null }): Promise<void> {
    const currency = p.amount?.currency ?? p.computed?.currency ?? p.outstanding?.currency ?? null;
    await this.db('billing_previews')
      .insert({
        record_id: recordId,
        provider: p.provider,
        amount_minor: p.amount?.amount_minor ?? null,
        computed_minor: p.computed?.amount_minor ?? null,
        difference_minor: p.difference?.amount_minor ?? null,
        outstanding_minor: p.outstanding?.amount_minor ?? null,
        currency,
        proration_date: p.prorationDate ?? null,
        unavailable: p.unavailable ?? null,
      })
      .onConflict('record_id')
      .merge();
  }

  async get(recordId: string): Promise<StoredPreview | null> {
    const r = (await this.db('billing_previews').where({ record_id: recordId }).first()) as PreviewRow | undefined;
    if (!r) return null;
    return {
      provider: r.provider,
      amount: money(r.amount_minor, r.currency),
      computed: money(r.computed_minor, r.currency),
      difference: money(r.difference_minor, r.currency),
      outstanding: money(r.outstanding_minor, r.currency),
      prorationDate: r.proration_date ? r.proration_date.toISOString() : null,
      unavailable: r.unavailable,
      created_at: r.created_at.toISOString(),
    };
  }
}
