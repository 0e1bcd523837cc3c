import { z } from 'zod';
import { AppError } from './errors';
import { KINDS, SUBTYPES } from './kinds';
import type { LifecycleRecord } from './kinds';
import { RISK_FLAGS, RiskThresholdsSchema } from './risk';
import { formatPath } from './catalog';

/**
 * The approval policy (POLICY_FILE): ordered rules, first match wins, the last one a catch-all.
 * A rule says how many distinct approvers a matching record needs (0 = auto-approve) and who may
 * approve; thresholds compare the absolute money amount in the record's own currency.
 */

const userId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user id such as U0123ABCD');
const groupId = z.string().regex(/^S[A-Z0-9]{2,}$/, 'expected a Slack user group id such as S0123ABCD');
const ApproverSetSchema = z
  .object({ user_ids: z.array(userId).max(200).default([]), user_groups: z.array(groupId).max(50).default([]) })
  .strict();
const Thresholds = z.record(z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code such as EUR'), z.number().int('expected integer minor units').min(0));
const oneOrMany = <T extends z.ZodType>(s: T) => z.union([s, z.array(s).min(1)]);
const ALL_SUBTYPES = [...new Set(Object.values(SUBTYPES).flat())] as [string, ...string[]];
const FLAGS = Object.values(RISK_FLAGS) as [string, ...string[]];

const WhenSchema = z
  .object({
    kind: oneOrMany(z.enum(KINDS as [string, ...string[]])).optional(),
    subtype: oneOrMany(z.enum(ALL_SUBTYPES)).optional(),
    /** |amount| ≥ threshold in the record's currency; records in other currencies or without money do not match. */
    min_amount: Thresholds.optional(),
    /** |amount| < threshold in the record's currency. */
    max_amount: Thresholds.optional(),
    account_tier_at_least: z.number().int().min(0).optional(),
    /** true: any risk flag; a list: any of these flags. */
    any_risk_flag: z.union([z.literal(true), z.array(z.enum(FLAGS)).min(1)]).optional(),
    /** Terminations whose early-termination fee is waived. */
    fee_waived: z.boolean().optional(),
  })
  .strict();

const RuleSchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    when: WhenSchema.default({}),
    approvals: z.union([z.literal(0), z.literal(1), z.literal(2)], { error: 'expected 0 (auto-approve), 1 or 2' }),
    approvers: ApproverSetSchema.optional(),
  })
  .strict();

export const PolicySchema = z
  .object({
    _comment: z.unknown().optional(),
    approvers: ApproverSetSchema,
    reminder_after_hours: z.number().positive().max(24 * 30).default(4),
    escalate_after_hours: z.number().positive().max(24 * 60).default(24),
    escalation: ApproverSetSchema.default({ user_ids: [], user_groups: [] }),
    risk: RiskThresholdsSchema.default(RiskThresholdsSchema.parse({})),
    rules: z.array(RuleSchema).min(1, 'at least one rule is needed'),
  })
  .strict()
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.rules.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name "${r.name}"` });
      seen.add(r.name);
      const set = r.approvers ?? p.approvers;
      if (r.approvals > 0 && set.user_ids.length + set.user_groups.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'approvers'], message: 'needs approval but names no approvers (here or in the top-level approvers)' });
      }
      if (r.approvals === 2 && set.user_ids.length === 1 && set.user_groups.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['rules', i, 'approvers'], message: 'needs two distinct approvers but names only one person' });
      }
    });
    const last = p.rules[p.rules.length - 1];
    if (last && Object.keys(last.when).length > 0) {
      ctx.addIssue({ code: 'custom', path: ['rules', p.rules.length - 1, 'when'], message: 'the last rule must be a catch-all (no "when") so every record gets a decision' });
    }
    if (p.escalate_after_hours <= p.reminder_after_hours) {
      ctx.addIssue({ code: 'custom', path: ['escalate_after_hours'], message: 'must be later than reminder_after_hours' });
    }
  });

export type Policy = z.infer<typeof PolicySchema>;
export type PolicyRule = Policy['rules'][number];

export interface PolicyDecision {
  readonly rule: string;
  readonly approvals: 0 | 1 | 2;
  readonly approvers: { readonly user_ids: readonly string[]; readonly user_groups: readonly string[] };
  readonly reminder_after_hours: number;
  readonly escalate_after_hours: number;
  readonly escalation: { readonly user_ids: readonly string[]; readonly user_groups: readonly string[] };
}

/** Parses a policy file, refusing it with the file, the rule (index and name) and the field that is wrong. */
export function parsePolicy(json: unknown, source: string): Policy {
  const r = PolicySchema.safeParse(json);
  if (r.success) return r.data;
  const rules = (json as { rules?: { name?: unknown }[] } | null)?.rules;
  const problems = r.error.issues.map((i) => {
    const path = [...i.path];
    let where = formatPath(path);
    if (path[0] === 'rules' && typeof path[1] === 'number') {
      const name = rules?.[path[1]]?.name;
      where = `rules[${path[1]}]${typeof name === 'string' ? ` "${name}"` : ''}${path.length > 2 ? `: ${formatPath(path.slice(2))}` : ''}`;
    }
    return { field: where, message: i.message };
  });
  throw new AppError('policy_invalid', `${source}: invalid approval policy:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`, { problems });
}

const list = <T>(v: T | T[] | undefined): T[] | undefined => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);

function matches(rule: PolicyRule, record: LifecycleRecord, accountTierRank: number | null): boolean {
  const w = rule.when;
  const kinds = list(w.kind);
  if (kinds && !kinds.includes(record.kind)) return false;
  const subtypes = list(w.subtype);
  if (subtypes && !subtypes.includes(record.subtype)) return false;
  const abs = record.amount ? Math.abs(record.amount.amount_minor) : null;
  if (w.min_amount) {
    const t = record.amount ? w.min_amount[record.amount.currency] : undefined;
    if (abs === null || t === undefined || abs < t) return false;
  }
  if (w.max_amount) {
    const t = record.amount ? w.max_amount[record.amount.currency] : undefined;
    if (abs !== null && (t === undefined || abs >= t)) return false;
  }
  if (w.account_tier_at_least !== undefined && (accountTierRank === null || accountTierRank < w.account_tier_at_least)) return false;
  if (w.any_risk_flag !== undefined) {
    const wanted = w.any_risk_flag === true ? null : w.any_risk_flag;
    if (!record.risk_flags.some((f) => wanted === null || wanted.includes(f))) return false;
  }
  if (w.fee_waived !== undefined && (record.kind !== 'termination' || Boolean((record.details as { fee_waived?: boolean }).fee_waived) !== w.fee_waived)) {
    return false;
  }
  return true;
}

/** The first rule that matches decides. Pure. */
export function decidePolicy(policy: Policy, record: LifecycleRecord, ctx: { accountTierRank: number | null }): PolicyDecision {
  const rule = policy.rules.find((r) => matches(r, record, ctx.accountTierRank)) ?? policy.rules[policy.rules.length - 1]!;
  return {
    rule: rule.name,
    approvals: rule.approvals,
    approvers: rule.approvers ?? policy.approvers,
    reminder_after_hours: policy.reminder_after_hours,
    escalate_after_hours: policy.escalate_after_hours,
    escalation: policy.escalation,
  };
}

/** Every user group the policy names, for membership look-ups. */
export function policyGroups(policy: Policy): string[] {
  return [...new Set([...policy.approvers.user_groups, ...policy.rules.flatMap((r) => r.approvers?.user_groups ?? [])])];
}
