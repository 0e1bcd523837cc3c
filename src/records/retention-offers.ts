import { z } from 'zod';
import type { Account } from './accounts';
import type { Catalog } from './catalog';
import { findPlan, planPrice } from './catalog';
import type { LifecycleRecord } from './kinds';
import type { Money } from './money';
import { addMonths, billingPeriodAt, INTERVAL_MONTHS } from './proration';
import type { BillingPeriod } from './proration';

/**
 * Retention offers (the `retention` section of POLICY_FILE): for chosen termination and
 * downgrade reasons the request waits, after it is filed, until the agent records what the
 * customer said to an offer. Accepted, the request is withdrawn and the offer becomes records of
 * its own (a downgrade, a pause, or discount credits), each approved like any record; declined,
 * the request continues, and a terminated account gets a win-back follow-up some days after its
 * termination date. Pure: instants come in.
 */

const REASON = /^[a-z0-9_]{1,40}$/;

export const RetentionOfferSchema = z.discriminatedUnion(
  'type',
  [
    z
      .object({
        type: z.literal('discount'),
        /** Off the plan price of each billing period, 1–100. */
        percent: z.number().int('expected a whole percent').min(1, 'expected 1 to 100').max(100, 'expected 1 to 100'),
        /** Monthly billing periods the discount covers, starting with the current one. */
        months: z.number().int('expected a whole number of months').min(1).max(24, 'at most 24 months'),
      })
      .strict(),
    z
      .object({
        type: z.literal('pause'),
        /** The account is suspended (billing paused) for this long, then reviewed. */
        months: z.number().int('expected a whole number of months').min(1).max(12, 'at most 12 months'),
      })
      .strict(),
    z
      .object({
        type: z.literal('downgrade'),
        /** A plan of the catalog, lower than the account's (checked when the offer is accepted). */
        to_plan: z.string().trim().min(1, 'name the catalog plan offered'),
      })
      .strict(),
  ],
  { error: 'expected an offer {"type": "discount", "percent", "months"}, {"type": "pause", "months"} or {"type": "downgrade", "to_plan"}' },
);
export type RetentionOffer = z.infer<typeof RetentionOfferSchema>;

const oneOrList = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(item).min(1, 'an empty list matches nothing'));

export const RetentionRuleSchema = z
  .object({
    _comment: z.union([z.string(), z.array(z.string())]).optional(),
    /** Shown to the agent and recorded in the audit trail. */
    name: z.string().trim().min(1, 'every offer rule needs a "name"').max(100),
    when: z
      .object({
        _comment: z.union([z.string(), z.array(z.string())]).optional(),
        kind: oneOrList(z.enum(['termination', 'downgrade'], { error: 'offers are made on terminations and downgrades only' })),
        reason_code: oneOrList(z.string().regex(REASON, 'expected a reason code (a-z, 0-9, _)')).optional(),
        subtype: oneOrList(z.string().min(1)).optional(),
      })
      .strict(),
    offer: RetentionOfferSchema,
  })
  .strict();
export type RetentionRule = z.infer<typeof RetentionRuleSchema>;

export const RetentionPolicySchema = z
  .object({
    _comment: z.union([z.string(), z.array(z.string())]).optional(),
    /** Tried in order; the first whose `when` matches decides the offer. */
    offers: z.array(RetentionRuleSchema).max(100).default([]),
    /** A follow-up with a terminated customer whose offer was declined. */
    win_back: z
      .object({
        _comment: z.union([z.string(), z.array(z.string())]).optional(),
        after_days: z.number().int().min(1).max(730),
        /** `zendesk`: a new ticket; `slack`: a reminder in the approval channel. */
        via: z.enum(['zendesk', 'slack']),
      })
      .strict()
      .optional(),
  })
  .strict();
export type RetentionPolicy = z.infer<typeof RetentionPolicySchema>;

/** The offer a filed request must be put to the customer first, or null. */
export function retentionRuleFor(policy: RetentionPolicy | undefined, record: Pick<LifecycleRecord, 'kind' | 'subtype' | 'reason_code'>): RetentionRule | null {
  if (!policy) return null;
  return (
    policy.offers.find(
      (r) =>
        (r.when.kind as readonly string[]).includes(record.kind) &&
        (!r.when.reason_code || r.when.reason_code.includes(record.reason_code)) &&
        (!r.when.subtype || r.when.subtype.includes(record.subtype)),
    ) ?? null
  );
}

/** The offer in words, for the ticket, the record and the customer ("20% off for 3 months"). */
export function describeOffer(offer: RetentionOffer, planName: (id: string) => string = (id) => id): string {
  switch (offer.type) {
    case 'discount':
      return `${offer.percent}% off for ${offer.months} month${offer.months === 1 ? '' : 's'}`;
    case 'pause':
      return `a pause of ${offer.months} month${offer.months === 1 ? '' : 's'}`;
    case 'downgrade':
      return `a move to the ${planName(offer.to_plan)} plan`;
  }
}

export type RetentionOutcome = 'pending' | 'accepted' | 'declined';

/** What the record says about its offer (details.retention_offer), if anything. */
export function offerState(record: Pick<LifecycleRecord, 'details'>): { offer: string; outcome: RetentionOutcome } | null {
  const o = record.details.retention_offer as { offer?: unknown; outcome?: unknown } | undefined;
  return o && typeof o.offer === 'string' && (o.outcome === 'pending' || o.outcome === 'accepted' || o.outcome === 'declined')
    ? { offer: o.offer, outcome: o.outcome }
    : null;
}

/**
 * The request an accepted pause or downgrade offer becomes: a record of its own, validated and
 * approved like any other. Discounts are filed later, one credit per ended period ({@link discountPeriods}).
 */
export function linkedRequest(
  offer: Exclude<RetentionOffer, { type: 'discount' }>,
  record: LifecycleRecord,
  requestedBy: string,
  now: Date,
): Record<string, unknown> {
  const common = {
    account_id: record.account_id,
    requested_by: requestedBy,
    reason_code: 'retention_offer',
    reason_text: `Retention offer accepted on request ${record.id}`,
  };
  if (offer.type === 'downgrade') return { kind: 'downgrade', subtype: 'subscription', ...common, details: { to_plan: offer.to_plan } };
  return {
    kind: 'status_change',
    subtype: 'suspension',
    ...common,
    effective: 'immediate',
    details: {
      suspension: {
        cause: `Paused for ${offer.months} month${offer.months === 1 ? '' : 's'} (retention offer)`,
        review_date: addMonths(now, offer.months).toISOString().slice(0, 10),
      },
    },
  };
}

/** One discounted period: filed as a goodwill credit once it has ended. */
export interface DiscountPeriod extends BillingPeriod {
  readonly index: number;
  readonly credit: Money;
}

/**
 * The billing periods an accepted discount covers (the current one and the next ones), each with
 * its credit: `percent` of the plan's price, rounded half up. Null when the account's plan is not
 * billed monthly in its currency (a "months" discount needs monthly periods).
 */
export function discountPeriods(offer: Extract<RetentionOffer, { type: 'discount' }>, account: Account, catalog: Catalog, now: Date): DiscountPeriod[] | null {
  const plan = findPlan(catalog, account.plan_id);
  const price = plan ? planPrice(plan, account.currency) : undefined;
  if (!plan || !price || INTERVAL_MONTHS[plan.interval] !== 1) return null;
  const anchor = new Date(account.term_start);
  const out: DiscountPeriod[] = [];
  let p = billingPeriodAt(anchor, 1, now);
  for (let i = 1; i <= offer.months; i++, p = billingPeriodAt(anchor, 1, p.end)) {
    out.push({
      index: i,
      start: p.start,
      end: p.end,
      credit: { amount_minor: Math.floor((price.amount_minor * offer.percent + 50) / 100), currency: price.currency },
    });
  }
  return out;
}

/** The goodwill credit request for one discounted period that has ended. */
export function discountCreditRequest(record: LifecycleRecord, period: DiscountPeriod, requestedBy: string): Record<string, unknown> {
  return {
    kind: 'service_credit',
    subtype: 'goodwill',
    account_id: record.account_id,
    requested_by: requestedBy,
    reason_code: 'retention_offer',
    reason_text: `Retention discount, period ${period.index}, offered on request ${record.id}`,
    effective: 'immediate',
    details: { period_start: period.start.toISOString(), period_end: period.end.toISOString(), requested_credit: period.credit },
  };
}

const DAY_MS = 86_400_000;

/** When the win-back follow-up of a terminated account is due: `after_days` after its termination instant. */
export function winBackDue(record: Pick<LifecycleRecord, 'effective_at'>, afterDays: number): Date | null {
  return record.effective_at ? new Date(Date.parse(record.effective_at) + afterDays * DAY_MS) : null;
}

/**
 * What the retention section names that the catalog does not have (a downgrade offer's plan),
 * checked at start-up with the catalog, so a typo stops the service instead of failing the
 * first acceptance.
 */
export function retentionCatalogProblems(policy: RetentionPolicy | undefined, catalog: Catalog): string[] {
  return (policy?.offers ?? []).flatMap((r, i) =>
    r.offer.type === 'downgrade' && !findPlan(catalog, r.offer.to_plan)
      ? [
          `retention_offers.offers[${i}] "${r.name}": offer.to_plan: "${r.offer.to_plan}" is not a plan of the catalog; expected one of: ${catalog.plans.map((p) => p.id).join(', ')}`,
        ]
      : [],
  );
}
