import { z } from 'zod';
import { AppError } from './errors';
import type { Problem } from './errors';
import { SlaSchema } from './kinds/common';
import { isCurrency, money } from './money';
import type { Money } from './money';

/**
 * The plan catalog (DESIGN.md section 1): support tiers, plans with per-currency prices, SLA
 * credit brackets and the change policy. Parsed once at start-up; an invalid file stops the
 * service with every offending path listed.
 */

const id = (what: string) => z.string().trim().min(1, `${what} is required`).max(200, `${what} is too long (max 200)`);

export const SupportTierSchema = z
  .object({
    id: id('id'),
    name: z.string().trim().min(1, 'name is required').max(200),
    /** Higher rank = better support. Ranks are unique so every tier move is an upgrade or a downgrade. */
    rank: z.number().int('expected an integer rank').min(0, 'expected a rank >= 0'),
  })
  .strict();
export type SupportTier = z.infer<typeof SupportTierSchema>;

export const PLAN_INTERVALS = ['month', 'year'] as const;
export type PlanInterval = (typeof PLAN_INTERVALS)[number];

const PriceSchema = z
  .number({ error: 'expected integer minor units' })
  .int('expected integer minor units')
  .min(0, 'expected integer minor units >= 0')
  .refine(Number.isSafeInteger, 'price is too large');

export const PlanSchema = z
  .object({
    id: id('id'),
    name: z.string().trim().min(1, 'name is required').max(200),
    /** Higher rank = bigger plan. A move to a higher rank is an upgrade, to a lower one a downgrade. */
    tier_rank: z.number().int('expected an integer rank').min(0, 'expected a rank >= 0'),
    interval: z.enum(PLAN_INTERVALS, { error: 'expected "month" or "year"' }),
    /** Price per interval in minor units, keyed by ISO 4217 code (checked in the catalog refinement). */
    prices: z.record(z.string(), PriceSchema),
    features: z.array(id('feature')).max(500).default([]),
    sla: SlaSchema,
    support_tier: id('support_tier'),
  })
  .strict();
export type Plan = z.infer<typeof PlanSchema>;

/** At most 4 decimal places, so a percentage is an exact rational (see {@link percentRational}). */
const percent = (what: string) =>
  z
    .number({ error: `expected ${what} as a number` })
    .min(0, `${what} must be between 0 and 100`)
    .max(100, `${what} must be between 0 and 100`)
    .refine((n) => Math.abs(n * 10_000 - Math.round(n * 10_000)) < 1e-6, `${what} may have at most 4 decimal places`);

export const SlaCreditSchema = z
  .object({
    /** The bracket applies when measured uptime is strictly below this percentage. */
    uptime_below: percent('uptime_below'),
    /** Share of the period's charges credited. */
    percent: percent('percent').refine((n) => n > 0, 'percent must be above 0'),
  })
  .strict();
export type SlaCredit = z.infer<typeof SlaCreditSchema>;

const EFFECTIVE_POLICY = z.enum(['immediate', 'end_of_term'], { error: 'expected "immediate" or "end_of_term"' });

const PlanChangePolicySchema = z.object({ effective: EFFECTIVE_POLICY, prorate: z.boolean() }).strict();

/** When a deactivation or closure ends the subscription: at the end of the period already paid for, or at once. */
const CancelPolicySchema = z.object({ cancel: z.enum(['period_end', 'now'], { error: 'expected "period_end" or "now"' }) }).strict();

export const ChangePolicySchema = z
  .object({
    upgrade: PlanChangePolicySchema,
    downgrade: PlanChangePolicySchema,
    termination: z
      .object({
        effective: EFFECTIVE_POLICY,
        /** Notice for accounts that do not carry their own; an account's `notice_period_days` wins. */
        notice_period_days: z.number().int().min(0).max(3650),
      })
      .strict(),
    deactivation: CancelPolicySchema.default({ cancel: 'period_end' }),
    closure: CancelPolicySchema.default({ cancel: 'period_end' }),
    service_credit: z
      .object({
        /** A credit for a period whose invoice is already paid: onto the customer balance, or refunded to the payment method. */
        paid_invoice: z.enum(['credit', 'refund'], { error: 'expected "credit" or "refund"' }),
      })
      .strict()
      .default({ paid_invoice: 'credit' }),
  })
  .strict();
export type ChangePolicy = z.infer<typeof ChangePolicySchema>;

/** Kill Bill style defaults, used when the catalog has no `change_policy`. */
export const DEFAULT_CHANGE_POLICY: ChangePolicy = {
  upgrade: { effective: 'immediate', prorate: true },
  downgrade: { effective: 'end_of_term', prorate: false },
  termination: { effective: 'end_of_term', notice_period_days: 30 },
  deactivation: { cancel: 'period_end' },
  closure: { cancel: 'period_end' },
  service_credit: { paid_invoice: 'credit' },
};

export const CatalogSchema = z
  .object({
    support_tiers: z.array(SupportTierSchema).min(1, 'at least one support tier is required'),
    plans: z.array(PlanSchema).min(1, 'at least one plan is required'),
    sla_credits: z.array(SlaCreditSchema).default([]),
    change_policy: ChangePolicySchema.default(DEFAULT_CHANGE_POLICY),
  })
  .strict()
  .superRefine((c, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });

    const tierIds = new Map<string, number>();
    const tierRanks = new Map<number, number>();
    c.support_tiers.forEach((t, i) => {
      const dupId = tierIds.get(t.id);
      if (dupId !== undefined) issue(['support_tiers', i, 'id'], `duplicate support tier id "${t.id}" (also support_tiers[${dupId}])`);
      else tierIds.set(t.id, i);
      const dupRank = tierRanks.get(t.rank);
      if (dupRank !== undefined)
        issue(['support_tiers', i, 'rank'], `duplicate rank ${t.rank} (also support_tiers[${dupRank}]); ranks order tiers and must be unique`);
      else tierRanks.set(t.rank, i);
    });

    const planIds = new Map<string, number>();
    c.plans.forEach((p, i) => {
      const dup = planIds.get(p.id);
      if (dup !== undefined) issue(['plans', i, 'id'], `duplicate plan id "${p.id}" (also plans[${dup}])`);
      else planIds.set(p.id, i);
      if (!tierIds.has(p.support_tier)) {
        issue(['plans', i, 'support_tier'], `unknown support tier "${p.support_tier}"; expected one of: ${[...tierIds.keys()].join(', ')}`);
      }
      const codes = Object.keys(p.prices);
      if (codes.length === 0) issue(['plans', i, 'prices'], 'at least one price is required');
      for (const code of codes) {
        if (!isCurrency(code)) issue(['plans', i, 'prices', code], `"${code}" is not an ISO 4217 currency code (upper case, e.g. EUR, USD, JPY)`);
      }
    });

    const brackets = new Map<number, number>();
    c.sla_credits.forEach((b, i) => {
      const dup = brackets.get(b.uptime_below);
      if (dup !== undefined) issue(['sla_credits', i, 'uptime_below'], `duplicate bracket uptime_below ${b.uptime_below} (also sla_credits[${dup}])`);
      else brackets.set(b.uptime_below, i);
    });
    // Less uptime never earns a smaller credit: otherwise a worse outage would be paid less.
    const sorted = c.sla_credits.map((b, i) => ({ ...b, i })).sort((a, b) => b.uptime_below - a.uptime_below);
    for (let k = 1; k < sorted.length; k++) {
      const prev = sorted[k - 1]!;
      const cur = sorted[k]!;
      if (cur.uptime_below !== prev.uptime_below && cur.percent < prev.percent) {
        issue(
          ['sla_credits', cur.i, 'percent'],
          `credit ${cur.percent}% below ${cur.uptime_below}% uptime is smaller than ${prev.percent}% below ${prev.uptime_below}%; lower uptime must not earn a smaller credit`,
        );
      }
    }
  });

export type Catalog = z.infer<typeof CatalogSchema>;

/** `plans[2].prices.EUR` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/**
 * Validates an already-decoded catalog document. `source` (the file path) is named in the error so
 * the operator knows which file to fix; every offending path is listed, not just the first.
 */
export function parseCatalog(json: unknown, source: string): Catalog {
  const result = CatalogSchema.safeParse(json);
  if (result.success) return result.data;
  const problems: Problem[] = result.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message }));
  const lines = problems.map((p) => `  ${p.field || '(root)'}: ${p.message}`);
  return throwInvalid(source, lines, problems);
}

function throwInvalid(source: string, lines: string[], problems: Problem[]): never {
  throw new AppError('catalog_invalid', `Plan catalog ${source} is invalid; fix these and restart:\n${lines.join('\n')}`, {
    problems,
    details: { source },
  });
}

export function findPlan(catalog: Catalog, planId: string): Plan | undefined {
  return catalog.plans.find((p) => p.id === planId);
}

export function findSupportTier(catalog: Catalog, tierId: string): SupportTier | undefined {
  return catalog.support_tiers.find((t) => t.id === tierId);
}

/** Price of one interval of `plan` in `currency`, or undefined when the plan is not sold in it. */
export function planPrice(plan: Plan, currency: string): Money | undefined {
  const amount = Object.prototype.hasOwnProperty.call(plan.prices, currency) ? plan.prices[currency] : undefined;
  return amount === undefined ? undefined : money(amount, currency);
}

export function supportTierRank(catalog: Catalog, tierId: string): number | undefined {
  return findSupportTier(catalog, tierId)?.rank;
}

/**
 * A percentage with at most 4 decimals as an exact fraction of 1: 12.5 → 125000/1000000.
 * Lets money maths on percentages stay in BigInt.
 */
export function percentRational(p: number): { num: bigint; den: bigint } {
  return { num: BigInt(Math.round(p * 10_000)), den: 1_000_000n };
}

/**
 * The SLA credit bracket for a measured uptime: among the brackets the uptime falls under
 * (`uptime < uptime_below`), the one with the lowest threshold, i.e. the most severe.
 */
export function slaCreditBracket(catalog: Catalog, measuredUptimePercent: number): SlaCredit | undefined {
  let best: SlaCredit | undefined;
  for (const b of catalog.sla_credits) {
    if (measuredUptimePercent < b.uptime_below && (best === undefined || b.uptime_below < best.uptime_below)) best = b;
  }
  return best;
}
