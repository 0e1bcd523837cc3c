import { DATE_INPUT_HINT, parseDateInput, startOfNextDay } from './dates';
import type { Problem } from './errors';

/**
 * What the reports are (names, sections, their dimensions and measures), as data. The database
 * computes each section from one population of records (a "fact"), grouped by the section's
 * dimensions; every number can so be traced back to the records it counts (the drill-down asks
 * the same population with the row's dimension values). Pure: the SQL lives in src/db.
 */

export const REPORT_NAMES = ['volume', 'money', 'approvals', 'turnaround', 'churn', 'risk'] as const;
export type ReportName = (typeof REPORT_NAMES)[number];

/** Populations sections are computed from, and the columns each offers for grouping and drilling. */
export const FACTS = {
  /** Records created in the range. */
  record: ['kind', 'subtype', 'reason', 'state', 'agent', 'account', 'month'],
  /** Records created in the range, once per approver who decided them ("(none)" for the others). */
  record_approver: ['kind', 'subtype', 'reason', 'state', 'agent', 'account', 'month', 'approver'],
  /** Money the billing provider confirmed in the range, one row per confirmed amount. */
  money: ['currency', 'kind', 'cause', 'reason', 'agent', 'account', 'month', 'purpose', 'type', 'destination'],
  /** MRR changes of records applied in the range. */
  mrr: ['currency', 'kind', 'subtype', 'reason', 'agent', 'account', 'month'],
  /** Terminations applied in the range whose early-termination fee was waived. */
  fee_waived: ['currency', 'kind', 'subtype', 'reason', 'agent', 'account', 'month'],
  /** Policy decisions in the range: auto-approved, or sent for approval (and what became of it). */
  policy: ['kind', 'subtype', 'agent', 'month', 'rule', 'outcome'],
  /** Approvers' decisions on approval requests raised in the range. */
  decision: ['kind', 'month', 'rule', 'approver', 'decision'],
  /** Records confirmed in the range, with their handling time. */
  confirmed: ['kind', 'subtype', 'reason', 'agent', 'month'],
  /** Terminations applied in the range. */
  termination: ['subtype', 'reason', 'agent', 'account', 'month', 'currency'],
  /** Termination requests filed in the range, with their retention offer. */
  retention: ['subtype', 'reason', 'agent', 'month', 'outcome'],
  /** Risk flags raised on records created in the range, one row per flag. */
  flag: ['flag', 'kind', 'agent', 'account', 'month'],
} as const satisfies Record<string, readonly string[]>;
export type FactName = keyof typeof FACTS;

export type MeasureType = 'count' | 'money' | 'seconds' | 'days' | 'share' | 'hours';

export interface MeasureSpec {
  readonly key: string;
  readonly type: MeasureType;
  /** For shares: numerator and denominator measure keys (computed from the counts, never in SQL). */
  readonly share?: readonly [string, string];
  /** Extra filter that narrows the drill-down of this number (e.g. only the approved ones). */
  readonly drill?: Readonly<Record<string, string>>;
}

export interface SectionSpec {
  readonly name: string;
  readonly title: string;
  readonly fact: FactName;
  readonly dims: readonly string[];
  readonly measures: readonly MeasureSpec[];
}

const count = (key: string, drill?: Record<string, string>): MeasureSpec => ({ key, type: 'count', ...(drill ? { drill } : {}) });
const moneyM = (key: string, drill?: Record<string, string>): MeasureSpec => ({ key, type: 'money', ...(drill ? { drill } : {}) });
const share = (key: string, num: string, den: string): MeasureSpec => ({ key, type: 'share', share: [num, den] });
const secs = (key: string): MeasureSpec => ({ key, type: 'seconds' });
const days = (key: string): MeasureSpec => ({ key, type: 'days' });

/** Dimensions `group_by` may name, per report (volume's are the list). */
export const GROUP_BY: Record<ReportName, readonly string[]> = {
  volume: ['kind', 'subtype', 'reason', 'state', 'agent', 'approver', 'month', 'account'],
  money: ['month', 'kind', 'agent', 'account'],
  approvals: ['month', 'kind'],
  turnaround: ['month', 'subtype', 'reason', 'agent'],
  churn: ['subtype', 'agent'],
  risk: ['month', 'kind'],
};

const VOLUME_DEFAULT: readonly (readonly string[])[] = [['kind'], ['kind', 'subtype'], ['kind', 'reason'], ['state'], ['agent'], ['approver'], ['month']];

const volumeSection = (dims: readonly string[]): SectionSpec => ({
  name: `by_${dims.join('_')}`,
  title: `Records by ${dims.join(', ')}`,
  fact: dims.includes('approver') ? 'record_approver' : 'record',
  dims,
  measures: [count('records')],
});

const TURNAROUND_MEASURES: readonly MeasureSpec[] = [
  count('confirmed'),
  secs('median_seconds'),
  secs('p90_seconds'),
  count('within_24h'),
  share('within_24h_share', 'within_24h', 'confirmed'),
  count('within_48h'),
  share('within_48h_share', 'within_48h', 'confirmed'),
  { key: 'target_hours', type: 'hours' },
  count('within_target'),
  share('within_target_share', 'within_target', 'confirmed'),
];

/** The sections of a report; `groupBy` replaces volume's default sections and adds dimensions to the others'. */
export function sectionsOf(name: ReportName, groupBy: readonly string[] = []): SectionSpec[] {
  const withGroup = (s: SectionSpec): SectionSpec => (groupBy.length ? { ...s, dims: [...groupBy, ...s.dims.filter((d) => !groupBy.includes(d))] } : s);
  switch (name) {
    case 'volume':
      return groupBy.length ? [volumeSection(groupBy)] : VOLUME_DEFAULT.map(volumeSection);
    case 'money':
      return (
        [
          {
            name: 'credits',
            title: 'Service credits granted',
            fact: 'money',
            dims: ['currency'],
            measures: [count('records'), moneyM('amount_minor'), moneyM('sla_outage_minor'), share('sla_outage_share', 'sla_outage_minor', 'amount_minor')],
          },
          {
            name: 'credits_by_cause',
            title: 'Service credits by cause',
            fact: 'money',
            dims: ['currency', 'cause'],
            measures: [count('records'), moneyM('amount_minor')],
          },
          {
            name: 'mrr',
            title: 'MRR added and lost',
            fact: 'mrr',
            dims: ['currency'],
            measures: [
              moneyM('added_by_upgrades_minor', { kind: 'upgrade' }),
              moneyM('lost_by_downgrades_minor', { kind: 'downgrade' }),
              moneyM('lost_by_terminations_minor', { kind: 'termination' }),
            ],
          },
          {
            name: 'fees_charged',
            title: 'Early-termination fees charged',
            fact: 'money',
            dims: ['currency'],
            measures: [count('records'), moneyM('amount_minor')],
          },
          {
            name: 'fees_waived',
            title: 'Early-termination fees waived',
            fact: 'fee_waived',
            dims: ['currency'],
            measures: [count('records'), moneyM('amount_minor')],
          },
          {
            name: 'refunds',
            title: 'Refunds (paid back to the payment method)',
            fact: 'money',
            dims: ['currency', 'purpose'],
            measures: [count('records'), moneyM('amount_minor')],
          },
        ] satisfies SectionSpec[]
      ).map(withGroup);
    case 'approvals':
      return (
        [
          {
            name: 'summary',
            title: 'Policy decisions',
            fact: 'policy',
            dims: [],
            measures: [
              count('evaluated'),
              count('auto_approved', { outcome: 'auto_approved' }),
              share('auto_approval_share', 'auto_approved', 'evaluated'),
              count('requested'),
              count('approved', { outcome: 'approved' }),
              count('rejected', { outcome: 'rejected' }),
              count('pending', { outcome: 'pending' }),
              count('reminders'),
              count('escalations'),
              secs('decision_median_seconds'),
              secs('decision_p90_seconds'),
            ],
          },
          {
            name: 'by_rule',
            title: 'Approval and rejection rates by rule',
            fact: 'policy',
            dims: ['rule'],
            measures: [
              count('evaluated'),
              count('auto_approved', { outcome: 'auto_approved' }),
              count('requested'),
              count('approved', { outcome: 'approved' }),
              count('rejected', { outcome: 'rejected' }),
              share('approval_rate', 'approved', 'decided'),
              share('rejection_rate', 'rejected', 'decided'),
              count('decided'),
              secs('decision_median_seconds'),
              secs('decision_p90_seconds'),
            ],
          },
          {
            name: 'by_approver',
            title: 'Decisions by approver',
            fact: 'decision',
            dims: ['approver'],
            measures: [
              count('decisions'),
              count('approvals', { decision: 'approve' }),
              count('rejections', { decision: 'reject' }),
              share('approval_rate', 'approvals', 'decisions'),
              share('rejection_rate', 'rejections', 'decisions'),
            ],
          },
        ] satisfies SectionSpec[]
      ).map(withGroup);
    case 'turnaround':
      return (
        [
          {
            name: 'overall',
            title: 'Ticket to confirmed, all kinds',
            fact: 'confirmed',
            dims: [],
            measures: TURNAROUND_MEASURES.filter((m) => m.key !== 'target_hours'),
          },
          { name: 'by_kind', title: 'Ticket to confirmed, per kind', fact: 'confirmed', dims: ['kind'], measures: TURNAROUND_MEASURES },
        ] satisfies SectionSpec[]
      ).map(withGroup);
    case 'churn':
      return (
        [
          {
            name: 'terminations',
            title: 'Terminations by month and reason',
            fact: 'termination',
            dims: ['month', 'reason'],
            measures: [count('terminations')],
          },
          {
            name: 'mrr_lost',
            title: 'MRR lost to terminations',
            fact: 'termination',
            dims: ['month', 'currency'],
            measures: [count('terminations'), moneyM('mrr_lost_minor')],
          },
          {
            name: 'notice',
            title: 'Notice given vs required',
            fact: 'termination',
            dims: [],
            measures: [count('terminations'), days('notice_given_median_days'), days('notice_required_median_days'), count('given_below_required')],
          },
          {
            name: 'retention',
            title: 'Retention offers on termination requests',
            fact: 'retention',
            dims: [],
            measures: [
              count('termination_requests'),
              count('offers_made'),
              count('accepted', { outcome: 'accepted' }),
              count('declined', { outcome: 'declined' }),
              count('offer_pending', { outcome: 'pending' }),
              share('acceptance_share', 'accepted', 'offers_made'),
            ],
          },
        ] satisfies SectionSpec[]
      ).map(withGroup);
    case 'risk':
      return (
        [
          { name: 'by_flag', title: 'Risk flags raised', fact: 'flag', dims: ['flag'], measures: [count('records')] },
          { name: 'by_agent', title: 'Risk flags by agent', fact: 'flag', dims: ['agent', 'flag'], measures: [count('records')] },
          { name: 'by_account', title: 'Risk flags by account', fact: 'flag', dims: ['account', 'flag'], measures: [count('records')] },
          {
            name: 'credits_by_agent',
            title: 'Service credits per agent against the team median',
            fact: 'money',
            dims: ['agent', 'currency'],
            measures: [count('records'), moneyM('credits_minor'), moneyM('team_median_minor'), { key: 'ratio_to_median', type: 'share' as const }],
          },
        ] satisfies SectionSpec[]
      ).map(withGroup);
  }
}

// ---------------------------------------------------------------------------------------------
// Query parameters

export interface ReportRange {
  /** Inclusive. */
  readonly from: Date;
  /** Exclusive (a date given as `to` means to the end of that day). */
  readonly to: Date;
}

/**
 * `from` and `to` as the API and CLI take them: a date (`from` at 00:00 UTC, `to` to the end of
 * that day, so `--from 2026-03-01 --to 2026-03-31` is March) or ISO 8601 timestamps (`to`
 * exclusive).
 */
export function parseRange(from: unknown, to: unknown): { range: ReportRange } | { problems: Problem[] } {
  const problems: Problem[] = [];
  const read = (field: string, v: unknown, end: boolean): Date | null => {
    if (typeof v !== 'string' || v.trim() === '') {
      problems.push({ field, message: `is required (${DATE_INPUT_HINT})` });
      return null;
    }
    const d = parseDateInput(v);
    if (!d) {
      problems.push({ field, message: `"${v.slice(0, 40)}" is not ${DATE_INPUT_HINT}` });
      return null;
    }
    return new Date(end && d.dateOnly ? startOfNextDay(d.date) : d.instant);
  };
  const f = read('from', from, false);
  const t = read('to', to, true);
  if (f && t && t <= f) problems.push({ field: 'to', message: 'must be after from' });
  return problems.length || !f || !t ? { problems } : { range: { from: f, to: t } };
}

/** `group_by` as given (comma-separated), checked against the report's dimensions. */
export function parseGroupBy(name: ReportName, raw: unknown): { groupBy: string[] } | { problems: Problem[] } {
  if (raw === undefined || raw === null || raw === '') return { groupBy: [] };
  const list = (Array.isArray(raw) ? raw.join(',') : String(raw))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const allowed = GROUP_BY[name];
  const bad = list.filter((d) => !allowed.includes(d));
  if (bad.length)
    return { problems: [{ field: 'group_by', message: `${bad.join(', ')}: not a dimension of the ${name} report; expected some of: ${allowed.join(', ')}` }] };
  return { groupBy: [...new Set(list)] };
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

/** A share of two counts, rounded to 4 decimals; null when there is nothing to divide by. */
export const shareOf = (num: number, den: number): number | null => (den > 0 ? Math.round((num / den) * 10_000) / 10_000 : null);

/** Continuous percentile (as PostgreSQL's percentile_cont) of values; null for none. */
export function percentileCont(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Median of values (0 when there are none), for the team's credits per agent. */
export const medianOf = (values: readonly number[]): number => percentileCont(values, 0.5) ?? 0;
