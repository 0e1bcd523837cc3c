import type { Knex } from 'knex';
import type { BusinessFigures, HistogramCounts } from '../observability/business-metrics';
import { FACT_SQL, readOnly } from './reports.queries';

/** The business metrics' reads: the same populations as the reports (confirmed records, confirmed credits). */
export class KnexBusinessFigures implements BusinessFigures {
  constructor(private readonly db: Knex) {}

  async now(): Promise<Date> {
    const { rows } = await this.db.raw<{ rows: { now: Date }[] }>('SELECT now() AS now');
    return new Date(rows[0]!.now);
  }

  async recordsByKindAndState(): Promise<{ kind: string; state: string; records: number }[]> {
    const { rows } = await this.db.raw<{ rows: { kind: string; state: string; n: string }[] }>(
      'SELECT kind, state, count(*) AS n FROM lifecycle_records GROUP BY kind, state',
    );
    return rows.map((r) => ({ kind: r.kind, state: r.state, records: Number(r.n) }));
  }

  async timeToConfirmed(from: Date, to: Date, buckets: readonly number[]): Promise<Map<string, HistogramCounts>> {
    const le = buckets.map((b, i) => `count(*) FILTER (WHERE seconds <= ${Number(b)}) AS b${i}`).join(', ');
    const { rows } = await readOnly(this.db, (trx) =>
      trx.raw<{ rows: Record<string, string>[] }>(
        `SELECT kind, ${le}, coalesce(sum(seconds), 0) AS sum, count(*) AS n FROM (${FACT_SQL.confirmed}) f GROUP BY kind`,
        { from, to },
      ),
    );
    return new Map(rows.map((r) => [r.kind!, { buckets: buckets.map((_, i) => Number(r[`b${i}`])), sum: Number(r.sum), count: Number(r.n) }]));
  }

  async creditsGranted(from: Date, to: Date): Promise<Map<string, number>> {
    const { rows } = await readOnly(this.db, (trx) =>
      trx.raw<{ rows: { currency: string; amount: string }[] }>(
        `SELECT currency, sum(amount_minor) AS amount FROM (${FACT_SQL.money}) f WHERE purpose = 'service_credit' AND type = 'credit' GROUP BY currency`,
        { from, to },
      ),
    );
    return new Map(rows.map((r) => [r.currency, Number(r.amount)]));
  }
}
