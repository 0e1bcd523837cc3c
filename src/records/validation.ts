import { billingHistoryStart } from './accounts';
import type { Account } from './accounts';
import { findPlan, findSupportTier, percentRational, planPrice, slaCreditBracket } from './catalog';
import type { Catalog, Plan, PlanInterval } from './catalog';
import { validationError } from './errors';
import type { Problem } from './errors';
import { STATUS_AFTER } from './kinds';
import type {
  AccountStatus,
  DowngradeDetails,
  Effective,
  RecordRequest,
  RecordRequestOf,
  ServiceCreditDetails,
  StatusChangeDetails,
  Subtype,
  TerminationDetails,
  UpgradeDetails,
} from './kinds';
import { formatMoney, money, negateMoney, roundHalfUp, subtractMoney } from './money';
import type { Money } from './money';
import { billingPeriodAt, chargesOverPeriods, INTERVAL_MONTHS, toProrationRecord } from './proration';

/**
 * Business validation of a structurally valid request against the account and the catalog
 * (DESIGN.md section 1): rejects what cannot be true and fills in what the catalog and the
 * contract determine (price delta, SLA, proration, fees, credits). Pure: time comes in `now`.
 */

/** Everything {@link assessRequest} looks at besides the request. */
export interface AssessContext {
  /** The request's account, or null when no such account is known. */
  readonly account: Account | null;
  readonly catalog: Catalog;
  readonly now: Date;
  /** Other accounts the request names (the target of a merge), by id. */
  readonly relatedAccounts?: ReadonlyMap<string, Account>;
}

export interface Assessment {
  /** Empty when the request can be submitted; otherwise what to fix, per field. */
  readonly problems: Problem[];
  /** The request's details with computed values filled in (computed values win over typed ones). */
  readonly details: Record<string, unknown>;
  /** Money impact for the customer: positive = customer pays, negative = credit; null = none computed. */
  readonly amount: Money | null;
  readonly effective: Effective;
  /** Instant the change takes effect, when it can be resolved. */
  readonly effective_at: string | null;
}

const DAY_MS = 86_400_000;
/** Data of a closed account is kept this long unless the request says otherwise. */
export const DEFAULT_DATA_RETENTION_DAYS = 90;

const isDate = (e: Effective): boolean => /^\d{4}-\d{2}-\d{2}$/.test(e);
const utcDate = (d: Date): string => d.toISOString().slice(0, 10);
const addDays = (d: Date, days: number): Date => new Date(d.getTime() + days * DAY_MS);
const startOfDate = (date: string): string => `${date}T00:00:00.000Z`;
const iso = (instant: string): string => new Date(instant).toISOString();
const q = (s: string): string => `"${s}"`;

/** Drops `undefined` members so details serialise (and hash) the same way everywhere. */
function compact<T extends object>(o: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

class Problems {
  readonly list: Problem[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message });
  }
}

interface Resolved {
  readonly effective: Effective;
  readonly effective_at: string | null;
}

/** Resolves `immediate` / `end_of_term` / a date against the account term; a date may not be in the past. */
function resolveEffective(effective: Effective, account: Account, now: Date, p: Problems, field = 'effective'): Resolved {
  if (effective === 'immediate') return { effective, effective_at: now.toISOString() };
  if (effective === 'end_of_term') return { effective, effective_at: iso(account.term_end) };
  const today = utcDate(now);
  if (effective < today) p.add(field, `${effective} is in the past (today is ${today} UTC); use "immediate" or a date from today on`);
  return { effective, effective_at: startOfDate(effective) };
}

/**
 * Assesses a request. Never throws for business problems: every problem found is returned, each
 * naming its field and saying how to fix it, so an agent can correct a draft in one go.
 */
export function assessRequest(request: RecordRequest, ctx: AssessContext): Assessment {
  const { account } = ctx;
  if (!account) {
    return {
      problems: [
        {
          field: 'account_id',
          message: `no account ${q(request.account_id)}; import it with \`lifecycle-desk accounts import\` or check the id`,
        },
      ],
      details: compact(request.details),
      amount: null,
      effective: request.effective ?? defaultEffective(request, ctx.catalog),
      effective_at: null,
    };
  }
  switch (request.kind) {
    case 'downgrade':
    case 'upgrade':
      return assessPlanChange(request, account, ctx);
    case 'termination':
      return assessTermination(request, account, ctx);
    case 'status_change':
      return assessStatusChange(request, account, ctx);
    case 'service_credit':
      return assessServiceCredit(request, account, ctx);
  }
}

/** Throws a `validation_failed` AppError listing the problems, if there are any. */
export function assertValid(assessment: Pick<Assessment, 'problems'>): void {
  if (assessment.problems.length > 0) throw validationError(assessment.problems);
}

function defaultEffective(request: RecordRequest, catalog: Catalog): Effective {
  switch (request.kind) {
    case 'downgrade':
    case 'upgrade':
      return catalog.change_policy[request.kind].effective;
    case 'termination':
      return catalog.change_policy.termination.effective;
    default:
      return 'immediate';
  }
}

// ---------------------------------------------------------------------------------------------
// Upgrades and downgrades

/** Subtypes that change the plan and so need `to_plan`. */
const NEEDS_PLAN: readonly string[] = ['subscription', 'sla', 'contractual'];
/** Upgrade subtypes satisfied by either a plan change or added features/permissions. */
const PLAN_OR_FEATURES: readonly string[] = ['product', 'pricing_model', 'access'];

/**
 * A price per `from` interval expressed per `to` interval (×12 or ÷12, half-up), so plans billed
 * monthly and yearly can be compared against the account's current term.
 */
function perInterval(price: Money, from: PlanInterval, to: PlanInterval): Money {
  if (from === to) return price;
  return from === 'year'
    ? money(roundHalfUp(BigInt(price.amount_minor), 12n), price.currency)
    : money(price.amount_minor * 12, price.currency);
}

function assessPlanChange(request: RecordRequestOf<'downgrade' | 'upgrade'>, account: Account, ctx: AssessContext): Assessment {
  const { catalog, now } = ctx;
  const p = new Problems();
  const kind = request.kind;
  const down = kind === 'downgrade';
  const dir = down ? 'lower' : 'higher';
  const other = down ? 'file an upgrade' : 'file a downgrade';
  const isMove = (from: number, to: number) => (down ? to < from : to > from);
  const d: DowngradeDetails & UpgradeDetails = { ...request.details };
  const cur = account.currency;
  const policy = catalog.change_policy[kind];

  const current = findPlan(catalog, account.plan_id);
  if (!current) {
    p.add('details.from_plan', `the account's plan ${q(account.plan_id)} is not in the catalog; correct the account's plan or add the plan to the catalog`);
  }
  if (d.from_plan !== undefined && d.from_plan !== account.plan_id) {
    p.add('details.from_plan', `${q(d.from_plan)} is not the account's current plan ${q(account.plan_id)}; leave from_plan empty or set it to ${q(account.plan_id)}`);
  }
  d.from_plan = account.plan_id;

  const subtype: string = request.subtype;
  if (NEEDS_PLAN.includes(subtype) && d.to_plan === undefined) {
    p.add('details.to_plan', `a ${subtype} ${kind} needs the plan to move to; set to_plan to a ${dir} plan`);
  }
  if (subtype === 'support_tier' && d.to_support_tier === undefined) {
    p.add('details.to_support_tier', `a support-tier ${kind} needs the tier to move to; set to_support_tier to a ${dir} tier`);
  }
  if (subtype === 'feature' && (d.features === undefined || d.features.length === 0)) {
    p.add('details.features', 'a feature downgrade needs the features to remove; list at least one');
  }
  if (PLAN_OR_FEATURES.includes(subtype) && d.to_plan === undefined && (d.features === undefined || d.features.length === 0)) {
    p.add('details.to_plan', `a ${subtype} upgrade needs to_plan or the features/permissions added; set one of them`);
  }

  // Plan move: direction, price in the account currency, SLA.
  let target: Plan | undefined;
  let oldPrice: Money | undefined;
  let newPrice: Money | undefined;
  if (d.to_plan !== undefined) {
    target = findPlan(catalog, d.to_plan);
    if (!target) {
      p.add('details.to_plan', `unknown plan ${q(d.to_plan)}; expected one of: ${catalog.plans.map((x) => x.id).join(', ')}`);
    } else if (current && target.id === current.id) {
      p.add('details.to_plan', `${q(target.id)} is already the account's plan; pick a ${dir} plan`);
      target = undefined;
    } else if (current && !isMove(current.tier_rank, target.tier_rank)) {
      p.add(
        'details.to_plan',
        `${q(target.id)} is not ${dir} than the current plan ${q(current.id)} (tier ${current.tier_rank} → ${target.tier_rank}, expected ${dir}); pick a ${dir} plan or ${other}`,
      );
      target = undefined;
    }
    if (current && target) {
      oldPrice = planPrice(current, cur);
      const rawNew = planPrice(target, cur);
      if (!oldPrice) p.add('details.from_plan', `the current plan ${q(current.id)} has no price in ${cur} (the account's currency); add one to the catalog`);
      if (!rawNew) p.add('details.to_plan', `plan ${q(target.id)} has no price in ${cur} (the account's currency); pick a plan sold in ${cur}`);
      newPrice = rawNew && perInterval(rawNew, target.interval, current.interval);
      d.sla_before = current.sla;
      d.sla_after = target.sla;
      if (d.features === undefined) {
        d.features = down
          ? current.features.filter((f) => !target!.features.includes(f))
          : target.features.filter((f) => !current.features.includes(f));
      }
    }
  }

  // Features: a downgrade removes included ones; an upgrade adds ones not yet included.
  if (current && d.features && d.features.length > 0 && (subtype === 'feature' || (!down && d.to_plan === undefined))) {
    const wrong = d.features.filter((f) => current.features.includes(f) !== down);
    if (wrong.length > 0) {
      p.add(
        'details.features',
        down
          ? `${wrong.map(q).join(', ')} not included in the current plan ${q(current.id)} (it includes: ${current.features.join(', ') || 'nothing'}); only included features can be removed`
          : `${wrong.map(q).join(', ')} already included in the current plan ${q(current.id)}; list only features or permissions being added`,
      );
    }
  }

  // Support tier move.
  if (d.to_support_tier !== undefined) {
    const currentTierId = account.support_tier ?? current?.support_tier;
    if (d.from_support_tier !== undefined && currentTierId !== undefined && d.from_support_tier !== currentTierId) {
      p.add(
        'details.from_support_tier',
        `${q(d.from_support_tier)} is not the account's current support tier ${q(currentTierId)}; leave it empty or set it to ${q(currentTierId)}`,
      );
    }
    const from = currentTierId === undefined ? undefined : findSupportTier(catalog, currentTierId);
    const to = findSupportTier(catalog, d.to_support_tier);
    if (currentTierId !== undefined && !from) {
      p.add('details.from_support_tier', `the account's support tier ${q(currentTierId)} is not in the catalog; correct the account`);
    }
    if (!to) {
      p.add('details.to_support_tier', `unknown support tier ${q(d.to_support_tier)}; expected one of: ${catalog.support_tiers.map((t) => t.id).join(', ')}`);
    } else if (from && !isMove(from.rank, to.rank)) {
      p.add(
        'details.to_support_tier',
        `${q(to.id)} is not ${dir} than the current support tier ${q(from.id)} (rank ${from.rank} → ${to.rank}, expected ${dir}); pick a ${dir} tier or ${other}`,
      );
    }
    if (currentTierId !== undefined) d.from_support_tier = currentTierId;
  }

  if (!down && d.contract_check === undefined) d.contract_check = { ok: true };

  const effective = request.effective ?? policy.effective;
  const resolved = resolveEffective(effective, account, now, p);

  // Money: prorate when the policy says so and the change lands inside the current term, over
  // the billing period it falls in (one interval of the current plan, not the whole contract
  // term); otherwise the impact is the per-interval price difference.
  d.price_delta = undefined;
  d.proration = undefined;
  let amount: Money | null = null;
  if (oldPrice && newPrice) {
    d.price_delta = subtractMoney(newPrice, oldPrice);
    amount = d.price_delta;
    const changeAt = effective === 'end_of_term' || resolved.effective_at === null ? null : new Date(resolved.effective_at);
    const termEnd = new Date(account.term_end);
    if (policy.prorate && changeAt && changeAt < termEnd && current) {
      const billing = billingPeriodAt(new Date(account.term_start), INTERVAL_MONTHS[current.interval], changeAt);
      d.proration = toProrationRecord({ oldPrice, newPrice, periodStart: billing.start, periodEnd: billing.end, changeAt });
      amount = d.proration.net;
    }
  }

  return { problems: p.list, details: compact(d), amount, ...resolved };
}

// ---------------------------------------------------------------------------------------------
// Termination

const GONE: readonly AccountStatus[] = ['closed', 'merged'];

function assessTermination(request: RecordRequestOf<'termination'>, account: Account, ctx: AssessContext): Assessment {
  const { catalog, now } = ctx;
  const p = new Problems();
  const d: TerminationDetails = { ...request.details };
  const cur = account.currency;

  if (GONE.includes(account.status)) {
    p.add('account_id', `account ${q(account.id)} is already ${account.status}; there is nothing to terminate`);
  }
  const notice = d.notice_period_days ?? account.notice_period_days;
  d.notice_period_days = notice;
  const today = utcDate(now);
  const noticeDate = utcDate(addDays(now, notice));
  const termEndDate = utcDate(new Date(account.term_end));
  const requested = request.effective;

  // The date: explicit termination_date, else the effective date, else from the effective mode.
  let dateField = 'details.termination_date';
  let date: string;
  if (d.termination_date !== undefined) {
    date = d.termination_date;
    if (requested !== undefined && isDate(requested) && requested !== date) {
      p.add('details.termination_date', `${date} contradicts effective ${requested}; set one date or make them equal`);
    }
  } else if (requested !== undefined && isDate(requested)) {
    date = requested;
    dateField = 'effective';
  } else if (requested === 'immediate') {
    date = today;
  } else if (requested === undefined && catalog.change_policy.termination.effective === 'immediate') {
    // An "immediate" policy still honours the notice: the earliest date that does.
    date = noticeDate;
  } else {
    date = termEndDate > noticeDate ? termEndDate : noticeDate;
  }
  d.termination_date = date;
  if (date < today) p.add(dateField, `${date} is in the past (today is ${today} UTC); pick today or a later date`);

  // Ending before the notice runs out costs the early-termination fee, unless waived.
  const early = date < noticeDate;
  let amount = money(0, cur);
  if (early) {
    const fee = d.early_termination_fee ?? money(account.early_termination_fee_minor, cur);
    if (fee.currency !== cur) {
      p.add('details.early_termination_fee.currency', `fee is in ${fee.currency} but the account bills in ${cur}; give it in ${cur}`);
    }
    d.early_termination_fee = fee;
    if (!d.fee_waived) amount = fee;
  } else if (d.early_termination_fee !== undefined && d.early_termination_fee.amount_minor > 0) {
    p.add(
      'details.early_termination_fee',
      `no early-termination fee applies: ${date} respects the ${notice}-day notice (fee-free from ${noticeDate}); remove the fee`,
    );
  }
  const refund = d.refund;
  if (refund && refund.currency !== cur) p.add('details.refund.currency', `refund is in ${refund.currency} but the account bills in ${cur}; give it in ${cur}`);
  // What the customer owes is the billing provider's figure, read before approval and again when
  // the termination is applied; a typed one would be a guess shown as fact.
  d.outstanding_balance = undefined;

  let resolved: Resolved;
  if (requested === 'immediate' && request.details.termination_date === undefined) {
    resolved = { effective: 'immediate', effective_at: now.toISOString() };
  } else if (date === termEndDate && request.details.termination_date === undefined && !(requested && isDate(requested))) {
    resolved = { effective: 'end_of_term', effective_at: iso(account.term_end) };
  } else {
    resolved = { effective: date, effective_at: startOfDate(date) };
  }
  return { problems: p.list, details: compact(d), amount, ...resolved };
}

// ---------------------------------------------------------------------------------------------
// Status changes

/** Statuses each status change may start from; anything else is refused. */
export const STATUS_CHANGE_FROM: Record<Subtype<'status_change'>, readonly AccountStatus[]> = {
  activation: ['pending'],
  suspension: ['pending', 'active'],
  deactivation: ['pending', 'active', 'suspended'],
  reactivation: ['suspended', 'deactivated'],
  merge: ['pending', 'active', 'suspended', 'deactivated'],
  closure: ['pending', 'active', 'suspended', 'deactivated'],
};

function assessStatusChange(request: RecordRequestOf<'status_change'>, account: Account, ctx: AssessContext): Assessment {
  const { now } = ctx;
  const p = new Problems();
  const d: StatusChangeDetails = { ...request.details };
  const subtype = request.subtype;
  const today = utcDate(now);

  d.status_before = account.status;
  d.status_after = STATUS_AFTER[subtype];
  const allowed = STATUS_CHANGE_FROM[subtype];
  if (!allowed.includes(account.status)) {
    p.add('subtype', `account ${q(account.id)} is ${account.status}; ${subtype} is only possible from ${allowed.join(' or ')}`);
  }

  if (subtype === 'suspension') {
    if (!d.suspension) {
      p.add('details.suspension', 'a suspension needs its cause and a review date: set details.suspension {cause, review_date}');
    } else if (d.suspension.review_date <= today) {
      p.add('details.suspension.review_date', `${d.suspension.review_date} is not after today (${today} UTC); set a review date in the future`);
    }
  }

  if (subtype === 'merge') {
    const m = d.merge;
    if (!m) {
      p.add('details.merge', 'a merge needs details.merge {source_account_id, target_account_id}; the source is this account');
    } else {
      if (m.source_account_id !== account.id) {
        p.add('details.merge.source_account_id', `the source must be this record's account ${q(account.id)}, not ${q(m.source_account_id)}`);
      }
      if (m.target_account_id === account.id || m.target_account_id === m.source_account_id) {
        p.add('details.merge.target_account_id', 'cannot merge an account into itself; name the account to merge into');
      } else {
        const target = ctx.relatedAccounts?.get(m.target_account_id);
        if (!target) {
          p.add(
            'details.merge.target_account_id',
            `no account ${q(m.target_account_id)}; import it with \`lifecycle-desk accounts import\` or check the id`,
          );
        } else {
          if (GONE.includes(target.status)) {
            p.add('details.merge.target_account_id', `target account ${q(target.id)} is ${target.status}; merge into an open account`);
          }
          if (target.currency !== account.currency) {
            p.add(
              'details.merge.target_account_id',
              `target account ${q(target.id)} bills in ${target.currency} and ${q(account.id)} in ${account.currency}; accounts must share a currency to merge without losing balances`,
            );
          }
        }
      }
    }
  }

  if (subtype === 'closure') {
    if (d.data_retention_until === undefined) {
      d.data_retention_until = utcDate(addDays(now, DEFAULT_DATA_RETENTION_DAYS));
    } else if (d.data_retention_until < today) {
      p.add('details.data_retention_until', `${d.data_retention_until} is in the past (today is ${today} UTC); keep data until today or later`);
    }
  }

  const resolved = resolveEffective(request.effective ?? 'immediate', account, now, p);
  return { problems: p.list, details: compact(d), amount: null, ...resolved };
}

// ---------------------------------------------------------------------------------------------
// Service credits

/**
 * Charges for an affected window: the plan price per billing period, each period one interval of
 * the plan (a month or a year) counted from the account's term start, spread to the second over
 * that period. The contract term (which may be a year of monthly billing) plays no part.
 */
export function chargesForWindow(price: Money, plan: Plan, account: Account, start: Date, end: Date): Money {
  return chargesOverPeriods(price, new Date(account.term_start), INTERVAL_MONTHS[plan.interval], start, end);
}

const minMoney = (a: Money, b: Money): Money => (a.amount_minor <= b.amount_minor ? a : b);

function assessServiceCredit(request: RecordRequestOf<'service_credit'>, account: Account, ctx: AssessContext): Assessment {
  const { catalog, now } = ctx;
  const p = new Problems();
  const d: ServiceCreditDetails = { ...request.details };
  const cur = account.currency;
  const requested = d.requested_credit;

  const start = new Date(d.period_start);
  const end = new Date(d.period_end);
  let periodOk = true;
  if (end <= start) {
    p.add('details.period_end', `the affected period must end after it starts (${d.period_start} → ${d.period_end})`);
    periodOk = false;
  } else if (end > now) {
    p.add('details.period_end', `${d.period_end} is in the future (now ${now.toISOString()}); credit a period that has ended`);
    periodOk = false;
  }
  const history = billingHistoryStart(account);
  if (start < new Date(history)) {
    // Charges for time the account was not billed would be invented, and would lift the cap.
    p.add(
      'details.period_start',
      `${d.period_start} is before the account's billing history, which starts ${iso(history)}; credit only time the account was billed for (or correct the account's billing_started_at)`,
    );
    periodOk = false;
  }
  const currencyOk = requested.currency === cur;
  if (!currencyOk) {
    p.add('details.requested_credit.currency', `credit is in ${requested.currency} but the account bills in ${cur}; give it in ${cur}`);
  }
  if (requested.amount_minor <= 0) {
    p.add('details.requested_credit.amount_minor', 'a credit must be a positive amount; give what the customer gets back');
  }

  const plan = findPlan(catalog, account.plan_id);
  const price = plan && planPrice(plan, cur);
  if (!plan || !price) {
    p.add(
      'account_id',
      plan
        ? `the account's plan ${q(plan.id)} has no price in ${cur}; the period's charges cannot be computed, add the price to the catalog`
        : `the account's plan ${q(account.plan_id)} is not in the catalog; the period's charges cannot be computed, correct the account`,
    );
  }

  d.period_charges = undefined;
  d.computed_credit = undefined;
  d.verification = undefined;
  if (plan && price && periodOk) {
    const charges = chargesForWindow(price, plan, account, start, end);
    d.period_charges = charges;
    if (currencyOk) {
      if (requested.amount_minor > charges.amount_minor) {
        p.add(
          'details.requested_credit',
          `credit ${formatMoney(requested)} exceeds the period's charges ${formatMoney(charges)}; credit at most ${formatMoney(charges)} for this period`,
        );
      }
      const capped = minMoney(requested, charges);
      const slaKind = request.subtype === 'outage' || request.subtype === 'sla_breach';
      if (slaKind && d.measured_uptime_percent !== undefined) {
        const uptime = d.measured_uptime_percent;
        const bracket = uptime < plan.sla.uptime_percent ? slaCreditBracket(catalog, uptime) : undefined;
        let computed = money(0, cur);
        let note: string;
        if (uptime >= plan.sla.uptime_percent) {
          note = `measured uptime ${uptime}% meets the plan's ${plan.sla.uptime_percent}% SLA; no SLA credit is due`;
        } else if (!bracket) {
          note = `measured uptime ${uptime}% is below the plan's ${plan.sla.uptime_percent}% SLA but above every credit bracket`;
        } else {
          const r = percentRational(bracket.percent);
          computed = money(roundHalfUp(BigInt(charges.amount_minor) * r.num, r.den), cur);
          note = `measured uptime ${uptime}% < ${bracket.uptime_below}%: ${bracket.percent}% of the period's charges`;
        }
        d.computed_credit = computed;
        d.verification = { result: requested.amount_minor <= computed.amount_minor ? 'verified' : 'mismatch', note };
      } else if (slaKind) {
        d.computed_credit = capped;
        d.verification = { result: 'unverified', note: 'no measured uptime given; add measured_uptime_percent to verify against the SLA' };
      } else {
        d.computed_credit = capped;
        d.verification = { result: requested.amount_minor <= capped.amount_minor ? 'verified' : 'mismatch' };
      }
    }
  }

  const resolved = resolveEffective(request.effective ?? 'immediate', account, now, p);
  return { problems: p.list, details: compact(d), amount: negateMoney(requested), ...resolved };
}
