import type { Knex } from 'knex';
import { FACTS } from '../records/reports';
import type { FactName, ReportRange, SectionSpec } from '../records/reports';
import type { ConfirmedDuration, DrillRecord, ReportsSource, SectionRow, TurnaroundTargets } from '../app/reports';

/**
 * The reports' SQL (a port of src/app/reports.ts). Each fact is one population of records as a
 * subquery with `record_id` and the dimension columns FACTS lists; a section groups its fact by
 * the section's dimensions, and a drill-down selects the fact's records with given dimension
 * values, so a number and the records behind it always come from the same rows. Bound values only;
 * dimension and measure names come from the domain's lists, never from the request.
 */

/**
 * The record of an event or adjustment, looked up by id. As a LATERAL with LIMIT 1 it stays a
 * lookup per row: joined plainly, the planner may hash the whole records table to find a month's.
 */
const recordOf = (id: string) => `(SELECT * FROM lifecycle_records r0 WHERE r0.id = ${id} LIMIT 1) r`;

const month = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM')`;
const inRange = (col: string) => `${col} >= :from AND ${col} < :to`;

/** The facts' SQL, with `:from` and `:to` bound to the range (also read by the business metrics). */
export const FACT_SQL: Record<FactName, string> = {
  record: `
    SELECT r.id AS record_id, r.kind, r.subtype, r.reason_code AS reason, r.state, r.requested_by AS agent, r.account_id AS account, ${month('r.created_at')} AS month
      FROM lifecycle_records r WHERE ${inRange('r.created_at')}`,
  record_approver: `
    SELECT r.id AS record_id, r.kind, r.subtype, r.reason_code AS reason, r.state, r.requested_by AS agent, r.account_id AS account, ${month('r.created_at')} AS month,
           coalesce(d.approver_id, '(none)') AS approver
      FROM lifecycle_records r
      LEFT JOIN LATERAL (SELECT d0.approver_id FROM approval_decisions d0 WHERE d0.record_id = r.id OFFSET 0) d ON true
     WHERE ${inRange('r.created_at')}`,
  money: `
    SELECT r.id AS record_id, m->'amount'->>'currency' AS currency, r.kind, r.subtype AS cause, r.reason_code AS reason, r.requested_by AS agent, r.account_id AS account,
           ${month('b.updated_at')} AS month, m->>'purpose' AS purpose, m->>'type' AS type, m->>'destination' AS destination,
           -- Money a reversal took back counts against what it reverses, so a credit and its reversal net to zero.
           (CASE WHEN m->>'reverses' = 'true' THEN -1 ELSE 1 END) * (m->'amount'->>'amount_minor')::bigint AS amount_minor
      FROM billing_adjustments b
      CROSS JOIN LATERAL ${recordOf('b.record_id')}
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(b.result->'money', '[]'::jsonb)) m
     WHERE b.status = 'succeeded' AND ${inRange('b.updated_at')}`,
  mrr: `
    SELECT e.record_id, e.data->'mrr'->>'currency' AS currency, r.kind, r.subtype, r.reason_code AS reason, r.requested_by AS agent, r.account_id AS account,
           ${month('e.occurred_at')} AS month, (e.data->'mrr'->>'after')::bigint - (e.data->'mrr'->>'before')::bigint AS delta_minor
      FROM audit_events e CROSS JOIN LATERAL ${recordOf('e.record_id')}
     WHERE e.type = 'record.mark_applied' AND ${inRange('e.occurred_at')} AND e.data->'mrr' IS NOT NULL`,
  fee_waived: `
    SELECT e.record_id, r.details->'early_termination_fee'->>'currency' AS currency, r.kind, r.subtype, r.reason_code AS reason, r.requested_by AS agent, r.account_id AS account,
           ${month('e.occurred_at')} AS month, (r.details->'early_termination_fee'->>'amount_minor')::bigint AS amount_minor
      FROM audit_events e CROSS JOIN LATERAL ${recordOf('e.record_id')}
     WHERE e.type = 'record.mark_applied' AND ${inRange('e.occurred_at')} AND r.kind = 'termination'
       AND r.details->>'fee_waived' = 'true' AND (r.details->'early_termination_fee'->>'amount_minor')::bigint > 0`,
  policy: `
    SELECT e.record_id, r.kind, r.subtype, r.requested_by AS agent, ${month('e.occurred_at')} AS month, coalesce(e.data->>'rule', '(unknown)') AS rule,
           CASE WHEN e.type = 'record.auto_approve' THEN 'auto_approved'
                WHEN q.outcome IS NOT NULL THEN q.outcome
                WHEN r.state = 'pending_approval' THEN 'pending'
                ELSE r.state END AS outcome,
           CASE WHEN q.outcome IN ('approved', 'rejected') THEN extract(epoch FROM q.decided_at - q.requested_at) END AS decision_seconds,
           (SELECT count(*) FROM jsonb_array_elements(coalesce(q.messages, '[]'::jsonb)) x WHERE x->>'kind' = 'reminder') AS reminders,
           (SELECT count(*) FROM jsonb_array_elements(coalesce(q.messages, '[]'::jsonb)) x WHERE x->>'kind' = 'escalation') AS escalations
      FROM audit_events e
      CROSS JOIN LATERAL ${recordOf('e.record_id')}
      LEFT JOIN LATERAL (SELECT * FROM approval_requests q0 WHERE q0.record_id = e.record_id AND e.type = 'record.request_approval' LIMIT 1) q ON true
     WHERE e.type IN ('record.auto_approve', 'record.request_approval') AND ${inRange('e.occurred_at')}`,
  decision: `
    SELECT d.record_id, r.kind, ${month('q.requested_at')} AS month, q.rule, d.approver_id AS approver, d.decision
      FROM approval_requests q
      CROSS JOIN LATERAL (SELECT * FROM approval_decisions d0 WHERE d0.record_id = q.record_id OFFSET 0) d
      CROSS JOIN LATERAL ${recordOf('q.record_id')}
     WHERE ${inRange('q.requested_at')}`,
  // Handling time: creation (the ticket) to confirmed, less the wait between being scheduled and
  // starting to apply (the effective date the customer chose).
  confirmed: `
    SELECT c.record_id, r.kind, r.subtype, r.reason_code AS reason, r.requested_by AS agent, ${month('c.occurred_at')} AS month,
           r.created_at, c.occurred_at AS confirmed_at, p.paused_at, p.resumed_at,
           greatest(0, extract(epoch FROM c.occurred_at - r.created_at)
                       - coalesce(extract(epoch FROM p.resumed_at - p.paused_at), 0)) AS seconds
      FROM audit_events c
      CROSS JOIN LATERAL ${recordOf('c.record_id')}
      LEFT JOIN LATERAL (
        SELECT min(x.occurred_at) FILTER (WHERE x.type = 'record.schedule') AS paused_at,
               max(x.occurred_at) FILTER (WHERE x.type = 'record.start_apply') AS resumed_at
          FROM audit_events x WHERE x.record_id = c.record_id AND x.type IN ('record.schedule', 'record.start_apply')
      ) p ON p.paused_at IS NOT NULL AND p.resumed_at > p.paused_at
     WHERE c.type = 'record.confirm' AND ${inRange('c.occurred_at')}`,
  termination: `
    SELECT e.record_id, r.subtype, r.reason_code AS reason, r.requested_by AS agent, r.account_id AS account, ${month('e.occurred_at')} AS month,
           e.data->'mrr'->>'currency' AS currency,
           greatest(0, (e.data->'mrr'->>'before')::bigint - (e.data->'mrr'->>'after')::bigint) AS mrr_lost_minor,
           extract(epoch FROM r.effective_at - r.created_at) / 86400 AS notice_given_days,
           (r.details->>'notice_period_days')::numeric AS notice_required_days
      FROM audit_events e CROSS JOIN LATERAL ${recordOf('e.record_id')}
     WHERE e.type = 'record.mark_applied' AND ${inRange('e.occurred_at')} AND r.kind = 'termination'`,
  retention: `
    SELECT r.id AS record_id, r.subtype, r.reason_code AS reason, r.requested_by AS agent, ${month('r.created_at')} AS month,
           r.details->'retention_offer' IS NOT NULL AS offered, coalesce(r.details->'retention_offer'->>'outcome', 'none') AS outcome
      FROM lifecycle_records r WHERE r.kind = 'termination' AND ${inRange('r.created_at')}`,
  flag: `
    SELECT r.id AS record_id, f.flag, r.kind, r.requested_by AS agent, r.account_id AS account, ${month('r.created_at')} AS month
      FROM lifecycle_records r CROSS JOIN LATERAL jsonb_array_elements_text(r.risk_flags) AS f(flag)
     WHERE ${inRange('r.created_at')}`,
};

const pct = (p: number, col: string) => `percentile_cont(${p}) WITHIN GROUP (ORDER BY ${col})`;
const n = (expr: string) => `count(${expr})`;

/** Which rows of a fact a section reads (money sections read one purpose of the money confirmed). */
const SECTION_WHERE: Record<string, string> = {
  'money.credits': `purpose = 'service_credit' AND type = 'credit'`,
  'money.credits_by_cause': `purpose = 'service_credit' AND type = 'credit'`,
  'money.fees_charged': `purpose = 'fee' AND type = 'charge'`,
  'money.refunds': `(type = 'refund' OR destination = 'payment')`,
  'risk.credits_by_agent': `purpose = 'service_credit' AND type = 'credit'`,
};

/** Measures as SQL aggregates over a section's rows. Shares are computed from the counts afterwards. */
const MEASURE_SQL: Record<string, string> = {
  records: n('DISTINCT record_id'),
  amount_minor: 'coalesce(sum(amount_minor), 0)',
  credits_minor: 'coalesce(sum(amount_minor), 0)',
  sla_outage_minor: `coalesce(sum(amount_minor) FILTER (WHERE cause IN ('outage', 'sla_breach')), 0)`,
  added_by_upgrades_minor: `coalesce(sum(delta_minor) FILTER (WHERE kind = 'upgrade' AND delta_minor > 0), 0)`,
  lost_by_downgrades_minor: `coalesce(-sum(delta_minor) FILTER (WHERE kind = 'downgrade' AND delta_minor < 0), 0)`,
  lost_by_terminations_minor: `coalesce(-sum(delta_minor) FILTER (WHERE kind = 'termination' AND delta_minor < 0), 0)`,
  evaluated: n('*'),
  auto_approved: `count(*) FILTER (WHERE outcome = 'auto_approved')`,
  requested: `count(*) FILTER (WHERE outcome <> 'auto_approved')`,
  approved: `count(*) FILTER (WHERE outcome = 'approved')`,
  rejected: `count(*) FILTER (WHERE outcome = 'rejected')`,
  pending: `count(*) FILTER (WHERE outcome = 'pending')`,
  decided: `count(*) FILTER (WHERE outcome IN ('approved', 'rejected'))`,
  reminders: 'coalesce(sum(reminders), 0)',
  escalations: 'coalesce(sum(escalations), 0)',
  decision_median_seconds: pct(0.5, 'decision_seconds'),
  decision_p90_seconds: pct(0.9, 'decision_seconds'),
  decisions: n('*'),
  approvals: `count(*) FILTER (WHERE decision = 'approve')`,
  rejections: `count(*) FILTER (WHERE decision = 'reject')`,
  confirmed: n('*'),
  median_seconds: pct(0.5, 'seconds'),
  p90_seconds: pct(0.9, 'seconds'),
  within_24h: 'count(*) FILTER (WHERE seconds <= 86400)',
  within_48h: 'count(*) FILTER (WHERE seconds <= 172800)',
  within_target: 'count(*) FILTER (WHERE seconds <= :target_seconds_of_kind)',
  terminations: n('*'),
  mrr_lost_minor: 'coalesce(sum(mrr_lost_minor), 0)',
  notice_given_median_days: pct(0.5, 'notice_given_days'),
  notice_required_median_days: pct(0.5, 'notice_required_days'),
  given_below_required: 'count(*) FILTER (WHERE notice_given_days < notice_required_days)',
  termination_requests: n('*'),
  offers_made: 'count(*) FILTER (WHERE offered)',
  accepted: `count(*) FILTER (WHERE outcome = 'accepted')`,
  declined: `count(*) FILTER (WHERE outcome = 'declined')`,
  offer_pending: `count(*) FILTER (WHERE outcome = 'pending')`,
};

/** Measures that are not aggregates of the section's rows (shares; filled in by the application). */
export const computedMeasures = new Set(['target_hours', 'team_median_minor', 'ratio_to_median']);

const ident = (s: string) => {
  if (!/^[a-z][a-z0-9_]*$/.test(s)) throw new Error(`not a column name: ${s}`);
  return `"${s}"`;
};

/** A fact with its section's rows only. */
function factFor(report: string, spec: Pick<SectionSpec, 'name' | 'fact'>): string {
  const where = SECTION_WHERE[`${report}.${spec.name}`];
  return where ? `SELECT * FROM (${FACT_SQL[spec.fact]}) f0 WHERE ${where}` : FACT_SQL[spec.fact];
}

/**
 * Runs report statements in a read-only transaction with JIT compilation off: the planner's row
 * estimates for JSON array functions are far too high, and compiling a report's plan then costs
 * more than running it (over a second for a month's report).
 */
export async function readOnly<T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  return db.transaction(async (trx) => {
    await trx.raw('SET TRANSACTION READ ONLY');
    await trx.raw('SET LOCAL jit = off');
    return work(trx);
  });
}

export class KnexReportsSource implements ReportsSource {
  constructor(private readonly db: Knex) {}

  /**
   * All sections of a report in one statement: each fact the report reads is computed once (a
   * materialised CTE) and every section is an aggregate over it, so a report costs one pass over
   * each of its populations however many sections it has.
   */
  async sections(report: string, specs: readonly SectionSpec[], range: ReportRange, targets: TurnaroundTargets): Promise<SectionRow[][]> {
    const bindings: Record<string, unknown> = { from: range.from, to: range.to };
    const facts = [...new Set(specs.map((s) => s.fact))];
    const ctes = facts.map((f) => `f_${f} AS MATERIALIZED (${FACT_SQL[f]})`);
    let targetSql: string | null = null;
    const parts = specs.map((spec, i) => {
      const dims = spec.dims.map(ident);
      // Bytewise grouping and order: codes and ids, not words; far cheaper than the locale's collation.
      const keys = dims.map((d) => `${d} COLLATE "C"`);
      const aggregates = spec.measures
        .filter((m) => m.type !== 'share' && !computedMeasures.has(m.key))
        .map((m) => {
          // One row per record in every fact but money (a credit may be confirmed in two parts).
          const sql = m.key === 'records' && spec.fact !== 'money' ? n('*') : MEASURE_SQL[m.key];
          if (!sql) throw new Error(`no SQL for measure ${m.key}`);
          if (sql.includes(':target_seconds_of_kind')) {
            // The per-kind target as a CASE over bound values.
            targetSql ??= `(CASE ${Object.entries(targets)
              .map(([k, h], j) => ((bindings[`tk${j}`] = k), (bindings[`th${j}`] = Math.round(h * 3600)), `WHEN kind = :tk${j} THEN :th${j}::numeric`))
              .join(' ')} END)`;
            return `${sql.replace(':target_seconds_of_kind', targetSql)} AS ${ident(m.key)}`;
          }
          return `${sql} AS ${ident(m.key)}`;
        });
      const where = SECTION_WHERE[`${report}.${spec.name}`];
      const order = dims.length ? `row_number() OVER (ORDER BY ${dims.map((d) => `x.${d} COLLATE "C"`).join(', ')})` : '1';
      return `SELECT ${i} AS s, ${order} AS n, to_jsonb(x) AS r FROM (SELECT ${[...keys.map((k, j) => `${k} AS ${dims[j]}`), ...aggregates].join(', ')} FROM f_${spec.fact}${where ? ` WHERE ${where}` : ''}${dims.length ? ` GROUP BY ${keys.join(', ')}` : ''}) x`;
    });
    const { rows } = await readOnly(this.db, (trx) =>
      trx.raw<{ rows: { s: number; r: Record<string, unknown> }[] }>(`WITH ${ctes.join(', ')} ${parts.join(' UNION ALL ')} ORDER BY s, n`, bindings),
    );
    const out: SectionRow[][] = specs.map(() => []);
    for (const { s: i, r } of rows) {
      const spec = specs[i]!;
      const row: SectionRow = {};
      // Without dimensions an empty population still has one row of zeros; with them, none.
      for (const [k, v] of Object.entries(r)) row[k] = v === null || v === undefined ? null : spec.dims.includes(k) ? String(v) : Number(v);
      out[i]!.push(row);
    }
    return out;
  }

  async drill(
    report: string,
    spec: SectionSpec,
    range: ReportRange,
    filters: Readonly<Record<string, string>>,
    limit: number,
  ): Promise<{ total: number; records: DrillRecord[] }> {
    const cols: readonly string[] = FACTS[spec.fact];
    const bindings: Record<string, unknown> = { from: range.from, to: range.to, limit };
    const where = Object.entries(filters).map(([k, v], i) => {
      if (!cols.includes(k)) throw new Error(`not a column of ${spec.fact}: ${k}`);
      bindings[`v${i}`] = v;
      return `f.${ident(k)} = :v${i}`;
    });
    const { rows } = await readOnly(this.db, (trx) =>
      trx.raw<{ rows: DrillRow[] }>(
        `SELECT r.id, r.kind, r.subtype, r.account_id, r.ticket_id, r.state, r.reason_code, r.requested_by, r.amount_minor, r.currency, r.created_at, r.updated_at, ids.n
         FROM (SELECT f.record_id, count(*) OVER () AS n FROM (${factFor(report, spec)}) f
                ${where.length ? `WHERE ${where.join(' AND ')}` : ''} GROUP BY f.record_id ORDER BY f.record_id LIMIT :limit) ids
         JOIN lifecycle_records r ON r.id = ids.record_id
        ORDER BY r.created_at DESC, r.id`,
        bindings,
      ),
    );
    const records = rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      subtype: r.subtype,
      account_id: r.account_id,
      ticket_id: r.ticket_id,
      state: r.state,
      reason_code: r.reason_code,
      requested_by: r.requested_by,
      amount: r.amount_minor === null || r.currency === null ? null : { amount_minor: Number(r.amount_minor), currency: r.currency },
      created_at: new Date(r.created_at).toISOString(),
      updated_at: new Date(r.updated_at).toISOString(),
    }));
    return { total: rows.length ? Number(rows[0]!.n) : 0, records };
  }

  async confirmedDurations(range: ReportRange, extraDims: readonly string[]): Promise<ConfirmedDuration[]> {
    const dims = extraDims.map((d) => `, ${ident(d)}`).join('');
    const { rows } = await readOnly(this.db, (trx) =>
      trx.raw<{ rows: (Record<string, string> & { kind: string; created_at: Date; confirmed_at: Date; paused_at: Date | null; resumed_at: Date | null })[] }>(
        `SELECT kind, created_at, confirmed_at, paused_at, resumed_at${dims} FROM (${FACT_SQL.confirmed}) f`,
        { from: range.from, to: range.to },
      ),
    );
    return rows.map((r) => ({
      kind: r.kind,
      dims: Object.fromEntries(extraDims.map((d) => [d, String(r[d])])),
      createdAt: new Date(r.created_at).getTime(),
      confirmedAt: new Date(r.confirmed_at).getTime(),
      pause: r.paused_at && r.resumed_at ? [new Date(r.paused_at).getTime(), new Date(r.resumed_at).getTime()] : null,
    }));
  }

  async agents(range: ReportRange): Promise<string[]> {
    const { rows } = await readOnly(this.db, (trx) =>
      trx.raw<{ rows: { agent: string }[] }>(`SELECT DISTINCT agent FROM (${FACT_SQL.record}) f ORDER BY agent`, { from: range.from, to: range.to }),
    );
    return rows.map((r) => r.agent);
  }
}

interface DrillRow {
  id: string;
  kind: string;
  subtype: string;
  account_id: string;
  ticket_id: string | null;
  state: string;
  reason_code: string;
  requested_by: string;
  amount_minor: string | null;
  currency: string | null;
  created_at: Date;
  updated_at: Date;
  n: string;
}
