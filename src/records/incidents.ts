import { z } from 'zod';
import type { Account } from './accounts';
import { billingHistoryStart } from './accounts';
import { findPlan, percentRational, planPrice, slaCreditBracket } from './catalog';
import type { Catalog } from './catalog';
import { DATE_INPUT_HINT, parseDateInput } from './dates';
import { epochSeconds, billingPeriodAt, INTERVAL_MONTHS } from './proration';
import { money, roundHalfUp } from './money';
import type { Money } from './money';
import { chargesForWindow } from './validation';
import type { RiskExplanation } from './risk';

/**
 * Incidents (README "Incidents"): one outage, every affected account credited from its plan's SLA
 * with one approval. Pure: which accounts a filter selects, each account's credit, and what the
 * approver is shown. The app layer stores, the jobs apply.
 */

/** An instant as given (a date is 00:00 UTC that day), normalised to ISO 8601 UTC. */
const instant = z.string({ error: `expected ${DATE_INPUT_HINT}` }).transform((s, ctx) => {
  const d = parseDateInput(s);
  if (d) return new Date(d.instant).toISOString();
  ctx.addIssue({ code: 'custom', message: `"${s.slice(0, 40)}" is not ${DATE_INPUT_HINT}` });
  return z.NEVER;
});

const id = (what: string) =>
  z
    .string({ error: `expected ${what} as text` })
    .trim()
    .min(1, `${what} is required`)
    .max(200, `${what} is too long (max 200)`);
const ids = (what: string, max: number) =>
  z
    .array(id(what), { error: `expected a list of ${what}s` })
    .min(1, 'an empty list matches nothing; leave the field out instead')
    .max(max, `at most ${max} ${what}s`)
    .transform((v) => [...new Set(v)].sort());
const oneOrMany = (what: string, max: number) => z.preprocess((v) => (typeof v === 'string' ? [v] : v), ids(what, max));

/** Largest account list an incident may name (explicit ids or CSV rows). */
export const MAX_INCIDENT_ACCOUNTS = 100_000;

/**
 * Which accounts an incident hit. Every criterion given must hold (a growth account in region eu);
 * re-posting the incident with another filter widens it (the union of all filters posted).
 * `region: "eu"` matches the account tag `region:eu`; `tags` match tags as written.
 */
export const IncidentFilterInputSchema = z
  .strictObject({
    plans: oneOrMany('plan id', 100).optional(),
    region: oneOrMany('region', 100).optional(),
    tags: oneOrMany('tag', 100).optional(),
    account_ids: oneOrMany('account id', MAX_INCIDENT_ACCOUNTS).optional(),
    /** CSV text with a header row and an `account_id` (or `id`) column; read into `account_ids`. */
    csv: z
      .string()
      .max(10 * 1024 * 1024, 'CSV is too large (max 10 MB)')
      .optional(),
  })
  .refine((f) => Object.values(f).some((v) => v !== undefined), { message: 'give at least one of plans, region, tags, account_ids or csv' });

/** A filter as stored: region folded into tags, the CSV into account ids. */
export interface IncidentFilter {
  readonly plans?: readonly string[];
  readonly tags?: readonly string[];
  readonly account_ids?: readonly string[];
}

export const IncidentInputSchema = z
  .strictObject({
    reference: id('reference'),
    starts_at: instant,
    ends_at: instant,
    /** The service that failed (shown to approvers and in the reason text). */
    service: id('service'),
    /** Plans whose SLA the service is part of; only their accounts are credited. Empty or absent: any plan. */
    plans: ids('plan id', 100).optional(),
    /** The uptime measured over each account's billing period; absent: computed from the window. */
    measured_uptime_percent: z.number({ error: 'expected a percentage' }).min(0, 'must be between 0 and 100').max(100, 'must be between 0 and 100').optional(),
    accounts: IncidentFilterInputSchema,
    /** Who posts it: the agent the credits are requested by (never one of their approvers). */
    requested_by: id('requested_by'),
    reason_code: id('reason_code').default('outage'),
    reason_text: z.string().max(2000, 'too long (max 2000 characters)').default(''),
  })
  .refine((i) => Date.parse(i.ends_at) > Date.parse(i.starts_at), { message: 'the incident must end after it starts', path: ['ends_at'] });
export type IncidentInput = z.infer<typeof IncidentInputSchema>;

/** Folds one posted filter into its stored form (the CSV already read into `csvIds`). */
export function normaliseFilter(f: IncidentInput['accounts'], csvIds: readonly string[] = []): IncidentFilter {
  const tags = [...(f.tags ?? []), ...(f.region ?? []).map((r) => `region:${r}`)];
  const accountIds = [...new Set([...(f.account_ids ?? []), ...csvIds])].sort();
  return {
    ...(f.plans ? { plans: f.plans } : {}),
    ...(tags.length ? { tags: [...new Set(tags)].sort() } : {}),
    ...(f.account_ids || f.csv !== undefined ? { account_ids: accountIds } : {}),
  };
}

/** Whether an account is selected by a filter (all criteria given hold). */
export function filterMatches(f: IncidentFilter, a: Pick<Account, 'id' | 'plan_id' | 'tags'>): boolean {
  if (f.account_ids && !f.account_ids.includes(a.id)) return false;
  if (f.plans && !f.plans.includes(a.plan_id)) return false;
  if (f.tags && !f.tags.some((t) => (a.tags ?? []).includes(t))) return false;
  return true;
}

/** Filters posted so far plus a new one, without repeats (re-posting the same filter changes nothing). */
export function widenFilters(existing: readonly IncidentFilter[], added: IncidentFilter): IncidentFilter[] {
  const key = (f: IncidentFilter) => JSON.stringify([f.plans ?? null, f.tags ?? null, f.account_ids ?? null]);
  return existing.some((f) => key(f) === key(added)) ? [...existing] : [...existing, added];
}

export interface IncidentWindow {
  readonly starts_at: string;
  readonly ends_at: string;
  /** Given uptime for every account, or null to compute it per account. */
  readonly measured_uptime_percent: number | null;
}

export type NoCreditCode = 'no_credit_due' | 'period_open' | 'not_billed' | 'no_price';

export type IncidentCredit =
  | {
      readonly ok: true;
      /** The billing period the incident started in: what is credited. */
      readonly period_start: string;
      readonly period_end: string;
      readonly uptime_percent: number;
      readonly uptime_source: 'given' | 'computed';
      readonly charges: Money;
      readonly credit: Money;
      /** The SLA bracket applied: `percent`% of the period's charges below `uptime_below`% uptime. */
      readonly bracket: { readonly uptime_below: number; readonly percent: number };
    }
  | { readonly ok: false; readonly code: NoCreditCode; readonly message: string };

/**
 * Uptime over a period when `down` of its `length` seconds were lost, as a percentage rounded DOWN
 * to 4 decimals. Brackets have at most 4 decimals, so rounding down never moves an uptime across
 * one: u < b exactly when floor4(u) < b.
 */
export function uptimePercent(downSeconds: bigint, lengthSeconds: bigint): number {
  if (lengthSeconds <= 0n) throw new RangeError('the period must not be empty');
  const down = downSeconds < 0n ? 0n : downSeconds > lengthSeconds ? lengthSeconds : downSeconds;
  return Number(((lengthSeconds - down) * 1_000_000n) / lengthSeconds) / 10_000;
}

/**
 * The credit one account is owed for an incident: the billing period the incident started in
 * (counted from the account's term start, one plan interval long), the uptime over that period
 * (given, or the part of the window inside the period taken off), the plan's SLA and the catalog's
 * brackets, and the period's charges at the plan's price in the account's own currency. The same
 * rounding as the record validation, so the record verifies.
 *
 * A period that has not ended yet is not credited now: its record would fail validation ("credit a
 * period that has ended"); posting the incident again after the period ends credits the account.
 */
export function incidentCreditFor(account: Account, catalog: Catalog, incident: IncidentWindow, now: Date): IncidentCredit {
  const plan = findPlan(catalog, account.plan_id);
  const price = plan && planPrice(plan, account.currency);
  if (!plan || !price) {
    return { ok: false, code: 'no_price', message: `plan ${account.plan_id} has no ${account.currency} price in the catalog` };
  }
  const start = new Date(incident.starts_at);
  const end = new Date(incident.ends_at);
  const period = billingPeriodAt(new Date(account.term_start), INTERVAL_MONTHS[plan.interval], start);
  const iso = (d: Date) => d.toISOString();
  if (period.end > now) {
    return {
      ok: false,
      code: 'period_open',
      message: `its billing period ${iso(period.start)} → ${iso(period.end)} has not ended; post the incident again after it ends`,
    };
  }
  if (period.start < new Date(billingHistoryStart(account))) {
    return { ok: false, code: 'not_billed', message: `its billing history starts ${billingHistoryStart(account)}, after the period the incident fell in` };
  }
  const ps = epochSeconds(period.start);
  const pe = epochSeconds(period.end);
  const clamp = (v: bigint) => (v < ps ? ps : v > pe ? pe : v);
  const down = clamp(epochSeconds(end)) - clamp(epochSeconds(start));
  const given = incident.measured_uptime_percent;
  const uptime = given ?? uptimePercent(down, pe - ps);
  const source = given === null ? ('computed' as const) : ('given' as const);
  if (uptime >= plan.sla.uptime_percent) {
    return { ok: false, code: 'no_credit_due', message: `uptime ${uptime}% meets the plan's ${plan.sla.uptime_percent}% SLA` };
  }
  const bracket = slaCreditBracket(catalog, uptime);
  if (!bracket) return { ok: false, code: 'no_credit_due', message: `uptime ${uptime}% is below the plan's SLA but above every credit bracket` };
  const charges = chargesForWindow(price, plan, account, period.start, period.end);
  const r = percentRational(bracket.percent);
  const credit = money(roundHalfUp(BigInt(charges.amount_minor) * r.num, r.den), account.currency);
  if (credit.amount_minor <= 0) return { ok: false, code: 'no_credit_due', message: 'the period cost nothing, so there is nothing to credit' };
  return {
    ok: true,
    period_start: iso(period.start),
    period_end: iso(period.end),
    uptime_percent: uptime,
    uptime_source: source,
    charges,
    credit,
    bracket: { uptime_below: bracket.uptime_below, percent: bracket.percent },
  };
}

/** The lifecycle request for one account's credit (a normal service_credit/outage record). */
export function incidentCreditRequest(
  incident: {
    readonly reference: string;
    readonly service: string;
    readonly starts_at: string;
    readonly ends_at: string;
    readonly reason_code: string;
    readonly reason_text?: string;
  },
  account: Pick<Account, 'id'>,
  credit: Extract<IncidentCredit, { ok: true }>,
  requestedBy: string,
): Record<string, unknown> {
  const why = `Incident ${incident.reference} (${incident.service}, ${incident.starts_at} → ${incident.ends_at}): uptime ${credit.uptime_percent}% over the billing period; ${credit.bracket.percent}% of the period's charges.`;
  return {
    kind: 'service_credit',
    subtype: 'outage',
    account_id: account.id,
    requested_by: requestedBy,
    reason_code: incident.reason_code,
    reason_text: incident.reason_text ? `${why} ${incident.reason_text}`.slice(0, 5000) : why,
    effective: 'immediate',
    details: {
      incident_reference: incident.reference,
      period_start: credit.period_start,
      period_end: credit.period_end,
      requested_credit: credit.credit,
      measured_uptime_percent: credit.uptime_percent,
    },
  };
}

/** One credit of a batch, as the approver sees it. */
export interface BatchCredit {
  readonly account_id: string;
  readonly credit: Money;
  readonly uptime_percent: number;
  readonly risk: readonly RiskExplanation[];
}

/**
 * What the single approval of a batch shows (stored with the batch, so the message never changes
 * under the approver). Accounts by id only: names are personal data (`privacy erase` blanks them
 * in one place), so the message looks them up when it is rendered.
 */
export interface BatchSummary {
  readonly accounts: number;
  /** Sum of the credits per currency, sorted by currency. */
  readonly totals: readonly Money[];
  /** The largest credits of each currency (at most `largestPerCurrency` each), largest first. */
  readonly largest: readonly { readonly account_id: string; readonly credit: Money; readonly uptime_percent: number }[];
  readonly flagged_count: number;
  /** The first flagged accounts (at most `flaggedShown`) with each flag's sentence. */
  readonly flagged: readonly {
    readonly account_id: string;
    readonly credit: Money;
    readonly risk: readonly RiskExplanation[];
  }[];
}

/** Totals per currency, largest credits and flagged accounts of a batch. Pure; sums are exact integers. */
export function summariseBatch(credits: readonly BatchCredit[], opts: { largestPerCurrency?: number; flaggedShown?: number } = {}): BatchSummary {
  const perCurrency = new Map<string, BatchCredit[]>();
  for (const c of credits) {
    const list = perCurrency.get(c.credit.currency) ?? [];
    list.push(c);
    perCurrency.set(c.credit.currency, list);
  }
  const currencies = [...perCurrency.keys()].sort();
  const totals = currencies.map((cur) => {
    const sum = perCurrency.get(cur)!.reduce((s, c) => s + BigInt(c.credit.amount_minor), 0n);
    if (sum > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`total ${cur} credit is too large`);
    return money(Number(sum), cur);
  });
  const byAmount = (a: BatchCredit, b: BatchCredit) => b.credit.amount_minor - a.credit.amount_minor || a.account_id.localeCompare(b.account_id);
  const largest = currencies.flatMap((cur) =>
    [...perCurrency.get(cur)!]
      .sort(byAmount)
      .slice(0, opts.largestPerCurrency ?? 3)
      .map((c) => ({ account_id: c.account_id, credit: c.credit, uptime_percent: c.uptime_percent })),
  );
  const flaggedAll = credits.filter((c) => c.risk.length > 0).sort(byAmount);
  return {
    accounts: credits.length,
    totals,
    largest,
    flagged_count: flaggedAll.length,
    flagged: flaggedAll.slice(0, opts.flaggedShown ?? 10).map((c) => ({ account_id: c.account_id, credit: c.credit, risk: c.risk })),
  };
}

export const BATCH_DECISIONS = ['approve_all', 'approve_unflagged', 'reject'] as const;
export type BatchDecision = (typeof BATCH_DECISIONS)[number];
