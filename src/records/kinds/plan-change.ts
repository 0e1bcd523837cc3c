import { z } from 'zod';
import type { Account } from '../accounts';
import type { PlannedEffect } from '../billing';
import { findPlan, findSupportTier, planPrice } from '../catalog';
import type { Catalog, Plan, PlanInterval } from '../catalog';
import { money, roundHalfUp, subtractMoney } from '../money';
import type { Money } from '../money';
import { MoneySchema } from '../money';
import { billingPeriodAt, INTERVAL_MONTHS, toProrationRecord } from '../proration';
import { compact, id, ProrationSchema, Problems, q, resolveEffective, SlaSchema, text } from './common';
import type { AccountChanges, Assessment, AssessContext, ConfirmedTotals, CustomerFacts, MoneyLine, RecordOf, TicketFields } from './common';
import type { RecordRequestOf } from './index';
import { monthlyPrice } from './mrr';

/**
 * What upgrades and downgrades share: plan or support-tier moves, features, SLA and price impact.
 * Each of `upgrade.ts` and `downgrade.ts` is this, pointed one way.
 */

export const PlanChangeDetailsSchema = z
  .object({
    from_plan: id('from_plan').optional(),
    to_plan: id('to_plan').optional(),
    from_support_tier: id('from_support_tier').optional(),
    to_support_tier: id('to_support_tier').optional(),
    /** Features removed (downgrade) or features/permissions added (upgrade). */
    features: z.array(id('feature')).max(100).optional(),
    sla_before: SlaSchema.optional(),
    sla_after: SlaSchema.optional(),
    /** Per-interval price difference, new minus old; computed from the catalog on submit. */
    price_delta: MoneySchema.optional(),
    proration: ProrationSchema.optional(),
  })
  .strict();

export const UpgradeDetailsSchema = PlanChangeDetailsSchema.extend({
  /** Result of checking the contract allows this upgrade (minimum term, pricing model…). */
  contract_check: z
    .object({ ok: z.boolean(), note: text(1000).optional() })
    .strict()
    .optional(),
}).strict();

type PlanKind = 'downgrade' | 'upgrade';
type Details = z.infer<typeof UpgradeDetailsSchema>;

export const PLAN_CHANGE_TICKET_FIELDS = ['from_plan', 'to_plan', 'to_support_tier', 'features'] as const;

export function planChangeFromTicket(t: TicketFields): Record<string, unknown> {
  return { from_plan: t.str('from_plan'), to_plan: t.str('to_plan'), to_support_tier: t.str('to_support_tier'), features: t.list('features') };
}

/** A plan change states the proration the provider confirmed, if any. */
export const planChangeCustomerMoney = (c: ConfirmedTotals) => ({ money: c.proration, prorated: !!c.proration });

export function defaultPlanChangeEffective(kind: PlanKind) {
  return (catalog: Catalog) => catalog.change_policy[kind].effective;
}

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
  return from === 'year' ? money(roundHalfUp(BigInt(price.amount_minor), 12n), price.currency) : money(price.amount_minor * 12, price.currency);
}

export function assessPlanChange(request: RecordRequestOf<PlanKind>, account: Account, ctx: AssessContext): Assessment {
  const { catalog, now } = ctx;
  const p = new Problems();
  const kind = request.kind;
  const down = kind === 'downgrade';
  const dir = down ? 'lower' : 'higher';
  const other = down ? 'file an upgrade' : 'file a downgrade';
  const isMove = (from: number, to: number) => (down ? to < from : to > from);
  const d: Details = { ...request.details };
  const cur = account.currency;
  const policy = catalog.change_policy[kind];

  const current = findPlan(catalog, account.plan_id);
  if (!current) {
    p.add('details.from_plan', `the account's plan ${q(account.plan_id)} is not in the catalog; correct the account's plan or add the plan to the catalog`);
  }
  if (d.from_plan !== undefined && d.from_plan !== account.plan_id) {
    p.add(
      'details.from_plan',
      `${q(d.from_plan)} is not the account's current plan ${q(account.plan_id)}; leave from_plan empty or set it to ${q(account.plan_id)}`,
    );
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
        d.features = down ? current.features.filter((f) => !target!.features.includes(f)) : target.features.filter((f) => !current.features.includes(f));
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

export function planChangeAccountChanges(record: RecordOf<PlanKind>, account: Account, catalog: Catalog): AccountChanges {
  const d = record.details as Record<string, unknown>;
  let next: Account = account;
  if (typeof d.to_plan === 'string') {
    const mrr = monthlyPrice(catalog, d.to_plan, account.currency);
    next = { ...next, plan_id: d.to_plan, ...(mrr === null ? {} : { mrr_minor: mrr }) };
  }
  if (typeof d.to_support_tier === 'string') next = { ...next, support_tier: d.to_support_tier };
  return { account: next, mergeTarget: null };
}

export const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
export const isMoney = (v: unknown): v is Money => !!v && typeof (v as Money).amount_minor === 'number' && typeof (v as Money).currency === 'string';

export function planChangeBillingEffects(record: RecordOf<PlanKind>, account: Account, catalog: Catalog): PlannedEffect[] {
  const d = record.details as Record<string, unknown>;
  // Feature or support-tier moves carry no price in the catalog: nothing to bill.
  if (!isString(d.to_plan)) return [];
  const plan = findPlan(catalog, d.to_plan);
  const proration = d.proration as { credit?: unknown; charge?: unknown; net?: unknown } | undefined;
  const prorated = !!proration && isMoney(proration.credit) && isMoney(proration.charge) && isMoney(proration.net);
  return [
    {
      key: 'apply',
      secondary: false,
      effect: {
        type: 'plan_change',
        to_plan: d.to_plan,
        from_plan: isString(d.from_plan) ? d.from_plan : account.plan_id,
        prorate: prorated,
        at: record.effective_at ?? record.updated_at,
        price: (plan && planPrice(plan, account.currency)) ?? null,
        proration: prorated ? { credit: proration.credit as Money, charge: proration.charge as Money, net: proration.net as Money } : null,
      },
    },
  ];
}

export const PLAN_CHANGE_NOTES = {
  plan: 'Plan change. Ledger: the book moves to the new plan at the effective instant; when the catalog prorates (and the instant lies inside the term) the proration credit and charge are posted (contra:plan_credits → receivable, receivable → revenue:subscriptions). Until its instant a scheduled change can be undone by cancelling the record (`POST /api/records/:id/cancel`); the ledger and a webhook receiver hear of it only at that instant.',
  plan_stripe:
    "Plan change. Stripe: the plan item of the plan subscription (the one whose price is in STRIPE_PRICE_MAP_FILE; add-ons are never touched) moves to the mapped price; prorated changes send `proration_behavior=create_prorations` with `proration_date` = the effective instant, the same instant previewed with `invoices.createPreview` before approval, and the email and ledger take Stripe's proration items; unprorated ones send `none`. A change dated at the current period's end is moved as soon as it is scheduled (so the renewal bills the new price); a later or prorated one waits for its instant. A scheduled change can be undone until its instant: cancelling the record moves the item back.",
  nothing:
    'Without `to_plan` (only features, permissions or a support tier): nothing at any provider — the catalog prices plans, not features or tiers; the accounts table takes the new support tier.',
};

export const PLAN = { ledger: 'plan change [[plan]]', stripe: 'plan item → mapped price [[plan_stripe]]', webhook: '`lifecycle.plan_changed`' };
export const PLAN_OR_NOTHING = {
  ledger: 'plan change [[plan]] if `to_plan`, else nothing [[nothing]]',
  stripe: 'plan item → mapped price [[plan_stripe]] if `to_plan`, else nothing [[nothing]]',
  webhook: '`lifecycle.plan_changed` if `to_plan`, else nothing [[nothing]]',
};

const fmtSigned = { signed: true } as const;

export function planChangeMoneyLines(record: RecordOf<PlanKind>): MoneyLine[] {
  const d = record.details as Record<string, unknown>;
  const lines: MoneyLine[] = [];
  if (isMoney(d.price_delta)) lines.push({ label: 'Price change per interval', money: d.price_delta, ...fmtSigned });
  const p = d.proration as Record<string, unknown> | undefined;
  if (p && isMoney(p.net)) {
    lines.push(
      p.net.amount_minor < 0
        ? { label: 'Prorated now', value: 'credit', money: { ...p.net, amount_minor: -p.net.amount_minor } }
        : { label: 'Prorated now', value: 'charge', money: p.net },
    );
  }
  return lines;
}

export function planChangeCustomerChange(record: RecordOf<PlanKind>, v: CustomerFacts, fallback: string): string {
  const from = (a: string | null) => (a ? ` from ${a}` : '');
  const parts: string[] = [];
  if (v.to_plan) parts.push(`plan change${from(v.from_plan)} to ${v.to_plan}`);
  if (v.to_support_tier) parts.push(`support plan change${from(v.from_support_tier)} to ${v.to_support_tier}`);
  if (v.features.length) parts.push(`${record.kind === 'downgrade' ? 'removal' : 'addition'} of ${v.features.join(', ')}`);
  if (!parts.length) return fallback;
  const s = parts.join(' and ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}
