import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * Business metrics on /metrics, derived from the database when Prometheus scrapes: records by
 * kind and state, time from ticket to confirmed per kind (a histogram), service credits granted
 * per currency. Counting in process would miss what other processes do (the CLI, other workers);
 * reading the database sees every transition, whatever its origin.
 *
 * The histogram and the credit totals only grow, and reading all history on every scrape would
 * cost more as it grows: what is older than `settleAfterMs` is added once to running totals, and
 * only the newer part is read each time. A transaction commits long before that margin passes, so
 * nothing lands behind the running totals.
 */

export interface HistogramCounts {
  /** Cumulative counts, one per bucket bound. */
  readonly buckets: readonly number[];
  readonly sum: number;
  readonly count: number;
}

export interface BusinessFigures {
  /** The database's clock (the times compared are its and the services'). */
  now(): Promise<Date>;
  recordsByKindAndState(): Promise<{ kind: string; state: string; records: number }[]>;
  /** Records confirmed in [from, to), per kind, against the bucket bounds (seconds). */
  timeToConfirmed(from: Date, to: Date, buckets: readonly number[]): Promise<Map<string, HistogramCounts>>;
  /** Service credits confirmed in [from, to), minor units per currency. */
  creditsGranted(from: Date, to: Date): Promise<Map<string, number>>;
}

/** 1 min … 1 week: the 24–48 h standard sits in the middle. */
export const TIME_TO_CONFIRMED_BUCKETS = [60, 300, 900, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 48 * 3600, 7 * 24 * 3600] as const;
const EPOCH = new Date(0);
const FAR = new Date('9999-12-31T00:00:00Z');

const addHistograms = (a: Map<string, HistogramCounts>, b: Map<string, HistogramCounts>): Map<string, HistogramCounts> => {
  const out = new Map(a);
  for (const [k, v] of b) {
    const cur = out.get(k);
    out.set(k, cur ? { buckets: cur.buckets.map((x, i) => x + v.buckets[i]!), sum: cur.sum + v.sum, count: cur.count + v.count } : v);
  }
  return out;
};
const addTotals = (a: Map<string, number>, b: Map<string, number>): Map<string, number> => {
  const out = new Map(a);
  for (const [k, v] of b) out.set(k, (out.get(k) ?? 0) + v);
  return out;
};

export class BusinessMetrics {
  private settledUntil: Date = EPOCH;
  private settledHistogram = new Map<string, HistogramCounts>();
  private settledCredits = new Map<string, number>();
  private snapshot: Promise<{ histogram: Map<string, HistogramCounts>; credits: Map<string, number> }> | null = null;

  constructor(
    private readonly figures: BusinessFigures,
    registry: Registry,
    private readonly settleAfterMs = 5 * 60_000,
  ) {
    const totals = () => this.totals();
    new Gauge({
      name: 'lifecycle_desk_records',
      help: 'Lifecycle records by kind and state (from the database, so every origin counts)',
      labelNames: ['kind', 'state'] as const,
      registers: [registry],
      async collect() {
        const rows = await figures.recordsByKindAndState();
        this.reset();
        for (const r of rows) this.set({ kind: r.kind, state: r.state }, r.records);
      },
    });
    registry.registerMetric({
      name: 'lifecycle_desk_time_to_confirmed_seconds',
      type: 'histogram',
      async get() {
        const { histogram } = await totals();
        const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
        for (const [kind, h] of [...histogram].sort(([a], [b]) => a.localeCompare(b))) {
          TIME_TO_CONFIRMED_BUCKETS.forEach((le, i) =>
            values.push({ value: h.buckets[i]!, labels: { le, kind }, metricName: 'lifecycle_desk_time_to_confirmed_seconds_bucket' }),
          );
          values.push({ value: h.count, labels: { le: '+Inf', kind }, metricName: 'lifecycle_desk_time_to_confirmed_seconds_bucket' });
          values.push({ value: h.sum, labels: { kind }, metricName: 'lifecycle_desk_time_to_confirmed_seconds_sum' });
          values.push({ value: h.count, labels: { kind }, metricName: 'lifecycle_desk_time_to_confirmed_seconds_count' });
        }
        return {
          name: 'lifecycle_desk_time_to_confirmed_seconds',
          help: 'Time from ticket to confirmed, per kind (time waiting scheduled for the effective date not counted)',
          type: 'histogram',
          values,
          aggregator: 'sum',
        };
      },
    } as unknown as Parameters<Registry['registerMetric']>[0]);
    registry.registerMetric({
      name: 'lifecycle_desk_credits_granted_minor_total',
      type: 'counter',
      async get() {
        const { credits } = await totals();
        const values = [...credits].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amount]) => ({ value: amount, labels: { currency } }));
        return {
          name: 'lifecycle_desk_credits_granted_minor_total',
          help: 'Service credits the billing provider confirmed, in minor units per currency',
          type: 'counter',
          values,
          aggregator: 'sum',
        };
      },
    } as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Reads the history now (at start-up), so the first scrape does not wait for it. */
  warm(onError: (err: Error) => void): this {
    this.totals().catch((err: unknown) => onError(err instanceof Error ? err : new Error(String(err))));
    return this;
  }

  /** One read per scrape for both metrics (they are collected side by side). */
  private totals() {
    this.snapshot ??= this.read().finally(() => setImmediate(() => (this.snapshot = null)));
    return this.snapshot;
  }

  private async read() {
    const now = await this.figures.now();
    const settle = new Date(now.getTime() - this.settleAfterMs);
    if (settle > this.settledUntil) {
      const [h, c] = await Promise.all([
        this.figures.timeToConfirmed(this.settledUntil, settle, TIME_TO_CONFIRMED_BUCKETS),
        this.figures.creditsGranted(this.settledUntil, settle),
      ]);
      this.settledHistogram = addHistograms(this.settledHistogram, h);
      this.settledCredits = addTotals(this.settledCredits, c);
      this.settledUntil = settle;
    }
    const from = this.settledUntil;
    const [h, c] = await Promise.all([this.figures.timeToConfirmed(from, FAR, TIME_TO_CONFIRMED_BUCKETS), this.figures.creditsGranted(from, FAR)]);
    return { histogram: addHistograms(this.settledHistogram, h), credits: addTotals(this.settledCredits, c) };
  }
}
