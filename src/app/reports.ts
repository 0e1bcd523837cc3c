import { AppError, validationError } from '../records/errors';
import type { Problem } from '../records/errors';
import type { Clock } from '../records/ports';
import type { Clocks } from '../records/clocks';
import { WorkingTime, handlingMs, hoursToMs } from '../records/clocks';
import type { ReasonTaxonomy } from '../records/reasons';
import { reasonLabel } from '../records/reasons';
import { FACTS, REPORT_NAMES, medianOf, parseGroupBy, parseRange, sectionsOf, shareOf } from '../records/reports';
import type { MeasureType, ReportName, ReportRange, SectionSpec } from '../records/reports';
import type { Money } from '../records/money';

/**
 * The reports (volume, money, approvals, turnaround, churn, risk) and the drill-down from any of
 * their numbers to the records behind it. The API, the CLI and the dashboard all call these two
 * functions, so they show the same numbers. Aggregation happens in the database (a replica when
 * REPORTS_DATABASE_URL is set); shares, business-hour targets and the team median are worked out
 * here from the counts it returns.
 */

export type SectionRow = Record<string, string | number | null>;

/** A record as a drill-down lists it. */
export interface DrillRecord {
  readonly id: string;
  readonly kind: string;
  readonly subtype: string;
  readonly account_id: string;
  readonly ticket_id: string | null;
  readonly state: string;
  readonly reason_code: string;
  readonly requested_by: string;
  readonly amount: Money | null;
  readonly created_at: string;
  readonly updated_at: string;
}

/** A confirmed record's instants, for measuring it in working time. */
export interface ConfirmedDuration {
  readonly kind: string;
  readonly dims: Readonly<Record<string, string>>;
  readonly createdAt: number;
  readonly confirmedAt: number;
  /** Scheduled → started applying: the wait for the effective date, not counted. */
  readonly pause: readonly [number, number] | null;
}

/** Turnaround target per kind, in hours. */
export type TurnaroundTargets = Readonly<Record<string, number>>;

/** What the reports read (src/db/reports.queries.ts). */
export interface ReportsSource {
  /** The rows of each section (in the order given), aggregated in the database. */
  sections(report: string, specs: readonly SectionSpec[], range: ReportRange, targets: TurnaroundTargets): Promise<SectionRow[][]>;
  drill(
    report: string,
    spec: SectionSpec,
    range: ReportRange,
    filters: Readonly<Record<string, string>>,
    limit: number,
  ): Promise<{ total: number; records: DrillRecord[] }>;
  confirmedDurations(range: ReportRange, extraDims: readonly string[]): Promise<ConfirmedDuration[]>;
  /** Agents who filed a record in the range (the team credits per agent are compared with). */
  agents(range: ReportRange): Promise<string[]>;
}

export interface ReportsDeps {
  readonly source: ReportsSource;
  readonly clock: Clock;
  readonly clocks: Pick<Clocks, 'turnaround_hours' | 'business_hours'>;
  readonly reasons?: ReasonTaxonomy;
}

export interface ReportSection {
  readonly name: string;
  readonly title: string;
  readonly dimensions: readonly string[];
  /** `drill`: the number's own filter, added to the row's dimension values to open its records. */
  readonly measures: readonly { readonly key: string; readonly type: MeasureType; readonly drill?: Readonly<Record<string, string>> }[];
  readonly rows: readonly SectionRow[];
}

export interface Report {
  readonly report: ReportName;
  /** Inclusive. */
  readonly from: string;
  /** Exclusive. */
  readonly to: string;
  readonly group_by: readonly string[];
  /** How within_target counts: wall-clock time, or working time of the business calendar. */
  readonly target_clock?: 'wall' | 'business';
  readonly sections: readonly ReportSection[];
  /** Labels of the codes in the rows (reasons), for people. */
  readonly labels: { readonly reason: Readonly<Record<string, string>> };
}

export interface ReportQuery {
  readonly from?: unknown;
  readonly to?: unknown;
  readonly group_by?: unknown;
}

function reportName(name: string): ReportName {
  if (!(REPORT_NAMES as readonly string[]).includes(name))
    throw new AppError('not_found', `No report "${name.slice(0, 60)}"; reports: ${REPORT_NAMES.join(', ')}`);
  return name as ReportName;
}

function parseQuery(name: ReportName, q: ReportQuery): { range: ReportRange; groupBy: string[] } {
  const range = parseRange(q.from, q.to);
  const group = parseGroupBy(name, q.group_by);
  const problems: Problem[] = [...('problems' in range ? range.problems : []), ...('problems' in group ? group.problems : [])];
  if (problems.length || !('range' in range) || !('groupBy' in group)) throw validationError(problems);
  return { range: range.range, groupBy: group.groupBy };
}

const num = (v: string | number | null | undefined): number => (typeof v === 'number' ? v : Number(v ?? 0));
const keyOf = (row: SectionRow, dims: readonly string[]) => dims.map((d) => String(row[d])).join('\u0000');
const round = (v: number | null, places: number) => (v === null ? null : Math.round(v * 10 ** places) / 10 ** places);

/** Runs a report. Unknown name: not_found; bad range or group_by: validation_failed naming each. */
export async function runReport(deps: ReportsDeps, nameIn: string, q: ReportQuery): Promise<Report> {
  const name = reportName(nameIn);
  const { range, groupBy } = parseQuery(name, q);
  const specs = sectionsOf(name, groupBy);
  const targets = deps.clocks.turnaround_hours;
  const [rowsPerSection, agents, durations] = await Promise.all([
    deps.source.sections(name, specs, range, targets),
    name === 'risk' ? deps.source.agents(range) : Promise.resolve([]),
    name === 'turnaround' && deps.clocks.business_hours ? deps.source.confirmedDurations(range, groupBy) : Promise.resolve(null),
  ]);
  const sections = specs.map((spec, i) => {
    let rows = rowsPerSection[i]!;
    if (name === 'turnaround') rows = turnaroundRows(spec, rows, targets, durations, deps.clocks);
    if (name === 'risk' && spec.name === 'credits_by_agent') rows = withTeamMedian(rows, agents, groupBy);
    rows = rows.map((r) => withShares(spec, r));
    return {
      name: spec.name,
      title: spec.title,
      dimensions: spec.dims,
      measures: spec.measures.map((m) => ({ key: m.key, type: m.type, ...(m.drill ? { drill: m.drill } : {}) })),
      rows,
    };
  });
  const reasons = new Set<string>();
  for (const s of sections) if (s.dimensions.includes('reason')) for (const r of s.rows) reasons.add(String(r.reason));
  return {
    report: name,
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    group_by: groupBy,
    ...(name === 'turnaround' ? { target_clock: deps.clocks.business_hours ? ('business' as const) : ('wall' as const) } : {}),
    sections,
    labels: { reason: Object.fromEntries([...reasons].sort().map((c) => [c, reasonLabel(deps.reasons, c)])) },
  };
}

function withShares(spec: SectionSpec, row: SectionRow): SectionRow {
  const out: SectionRow = {};
  for (const d of spec.dims) out[d] = row[d] ?? null;
  for (const m of spec.measures) {
    if (m.share) out[m.key] = shareOf(num(row[m.share[0]]), num(row[m.share[1]]));
    else if (m.type === 'seconds') out[m.key] = round(row[m.key] === null || row[m.key] === undefined ? null : num(row[m.key]), 3);
    else if (m.type === 'days') out[m.key] = round(row[m.key] === null || row[m.key] === undefined ? null : num(row[m.key]), 2);
    else out[m.key] = row[m.key] ?? null;
  }
  return out;
}

/**
 * Turnaround rows get their kind's target; with a business calendar, within_target is recounted
 * in working time from each record's instants (the database counts wall-clock time).
 */
function turnaroundRows(
  spec: SectionSpec,
  rows: SectionRow[],
  targets: TurnaroundTargets,
  durations: readonly ConfirmedDuration[] | null,
  clocks: ReportsDeps['clocks'],
): SectionRow[] {
  let within: Map<string, number> | null = null;
  if (durations) {
    const working = new WorkingTime(clocks.business_hours);
    within = new Map();
    const keyDims = spec.dims;
    for (const d of durations) {
      const target = targets[d.kind];
      if (target === undefined) continue;
      const ms = handlingMs(working, d.createdAt, d.confirmedAt, d.pause ? [d.pause] : []);
      if (ms > hoursToMs(target)) continue;
      const k = keyOf({ ...d.dims, kind: d.kind }, keyDims);
      within.set(k, (within.get(k) ?? 0) + 1);
    }
  }
  return rows.map((r) => ({
    ...r,
    ...(spec.dims.includes('kind') ? { target_hours: targets[String(r.kind)] ?? null } : {}),
    ...(within ? { within_target: within.get(keyOf(r, spec.dims)) ?? 0 } : {}),
  }));
}

/**
 * Credits per agent against the team median: the team is every agent who filed a record in the
 * range, an agent without credits counting 0, per currency (and per group when grouped).
 */
function withTeamMedian(rows: SectionRow[], agents: readonly string[], groupBy: readonly string[]): SectionRow[] {
  const groups = new Map<string, SectionRow[]>();
  for (const r of rows) {
    const k = keyOf(r, [...groupBy, 'currency']);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const medians = new Map<string, number>();
  for (const [k, list] of groups) {
    const byAgent = new Map(list.map((r) => [String(r.agent), num(r.credits_minor)]));
    const team = new Set([...agents, ...byAgent.keys()]);
    medians.set(k, medianOf([...team].map((a) => byAgent.get(a) ?? 0)));
  }
  return rows.map((r) => {
    const median = medians.get(keyOf(r, [...groupBy, 'currency'])) ?? 0;
    return { ...r, team_median_minor: median, ratio_to_median: median > 0 ? round(num(r.credits_minor) / median, 4) : null };
  });
}

export interface DrillQuery extends ReportQuery {
  readonly section?: unknown;
  readonly limit?: unknown;
  /** Dimension values of the row (and the number's own filter). */
  readonly filters: Readonly<Record<string, unknown>>;
}

/** The records behind a number of a report: the section's population with the row's dimension values. */
export async function drillReport(deps: ReportsDeps, nameIn: string, q: DrillQuery): Promise<{ total: number; records: DrillRecord[] }> {
  const name = reportName(nameIn);
  const { range, groupBy } = parseQuery(name, q);
  const specs = sectionsOf(name, groupBy);
  const spec = specs.find((s) => s.name === q.section);
  if (!spec) throw validationError([{ field: 'section', message: `expected one of: ${specs.map((s) => s.name).join(', ')}` }]);
  const columns: readonly string[] = FACTS[spec.fact];
  const problems: Problem[] = [];
  const filters: Record<string, string> = {};
  for (const [k, v] of Object.entries(q.filters)) {
    if (!columns.includes(k)) problems.push({ field: k, message: `not a dimension of ${name}.${spec.name}; expected some of: ${columns.join(', ')}` });
    else if (typeof v !== 'string' || v.length > 200) problems.push({ field: k, message: 'expected one value (at most 200 characters)' });
    else filters[k] = v;
  }
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) problems.push({ field: 'limit', message: 'expected an integer from 1 to 1000' });
  if (problems.length) throw validationError(problems);
  return deps.source.drill(name, spec, range, filters, limit);
}
