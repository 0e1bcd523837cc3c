import { z } from 'zod';
import { AppError } from './errors';
import type { Problem } from './errors';
import { KINDS, SUBTYPES } from './kinds';
import type { Kind, LifecycleRecord } from './kinds';
import { ALL_RISK_FLAGS, MinorThresholdsSchema, RiskThresholdsSchema } from './risk';
import { formatPath } from './catalog';
import { RetentionPolicySchema } from './retention-offers';

/**
 * The approval policy (POLICY_FILE, documented in config/policy.example.json): ordered rules, the
 * first whose `when` matches decides, the last one a catch-all so every record gets a decision.
 * A rule says how many distinct approvers a matching record needs (0 = auto-approve) and who may
 * approve. Amount thresholds compare the absolute money amount in the record's own currency.
 */

const SLACK_USER = /^[UW][A-Z0-9]{6,20}$/;
const SLACK_GROUP = /^S[A-Z0-9]{6,20}$/;

const shown = (v: unknown) => (typeof v === 'string' ? `"${v}"` : JSON.stringify(v));

const unknownKeys = (allowed: readonly string[]) => (iss: { code?: string; keys?: string[] }) =>
  iss.code === 'unrecognized_keys' && iss.keys
    ? `unknown field${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => `"${k}"`).join(', ')}; expected: ${allowed.join(', ')}`
    : undefined;

/** A strict object whose unknown-field error lists the fields it does accept. `_comment` is allowed everywhere and ignored. */
function strictObject<S extends z.ZodRawShape>(shape: S) {
  const full = { _comment: z.union([z.string(), z.array(z.string())]).optional(), ...shape };
  return z.strictObject(full, { error: unknownKeys(Object.keys(shape)) });
}

const idList = (re: RegExp, what: string, example: string) =>
  z
    .array(
      z
        .string({ error: `expected a ${what} such as ${example}` })
        .regex(re, { error: (iss) => `expected a ${what} such as ${example}, got ${shown(iss.input)}` }),
      {
        error: `expected a list of ${what}s such as ["${example}"]`,
      },
    )
    .max(200, `at most 200 ${what}s`)
    // Duplicates would make one person look like two when counting distinct approvers.
    .transform((ids) => [...new Set(ids)]);

/** Who may approve (or who is told on escalation): Slack user ids (U…/W…) and/or user group ids (S…). */
const ApproverSetSchema = strictObject({
  user_ids: idList(SLACK_USER, 'Slack user id', 'U0123ABCD').default([]),
  user_groups: idList(SLACK_GROUP, 'Slack user group id', 'S0123ABCD').default([]),
});
export type ApproverSet = z.infer<typeof ApproverSetSchema>;
const NOBODY: ApproverSet = { user_ids: [], user_groups: [] };

/** One value or a non-empty list of them; always a list once parsed. */
const oneOrList = <T extends z.ZodType>(item: T, example: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? [v] : v),
    z.array(item, { error: `expected a value or a list such as ${example}` }).min(1, 'an empty list matches nothing; leave the field out instead'),
  );

const ALL_SUBTYPES = [...new Set(Object.values(SUBTYPES).flat())] as string[];
const kindEnum = z.enum(KINDS as [Kind, ...Kind[]], { error: (iss) => `${shown(iss.input)} is not a record kind; expected one of: ${KINDS.join(', ')}` });
const subtypeEnum = z
  .string({ error: 'expected a subtype name' })
  .refine((s) => ALL_SUBTYPES.includes(s), { error: (iss) => `${shown(iss.input)} is not a subtype of any record kind` });
const flagEnum = z.enum(ALL_RISK_FLAGS as [string, ...string[]], {
  error: (iss) => `${shown(iss.input)} is not a risk flag; expected one of: ${ALL_RISK_FLAGS.join(', ')}`,
});
const hours = (what: string, max: number) =>
  z
    .number({ error: `expected ${what} as a number of hours` })
    .positive(`${what} must be a positive number of hours`)
    .max(max, `${what} must be at most ${max} hours`);

/**
 * Conditions of a rule; all given ones must hold. No `when` (or `{}`) matches every record.
 * See config/policy.example.json `_comment` for the operator-facing description.
 */
const WhenSchema = strictObject({
  /** Record kind, one or a list. */
  kind: oneOrList(kindEnum, '["termination", "status_change"]').optional(),
  /** Subtype, one or a list; each must belong to one of the rule's kinds (when `kind` is given). */
  subtype: oneOrList(subtypeEnum, '["merge", "closure"]').optional(),
  /** |amount| ≥ threshold in the record's currency. No amount, or no threshold for its currency: no match. */
  min_amount: MinorThresholdsSchema.optional(),
  /** |amount| < threshold in the record's currency (strictly below, so min/max with one number split cleanly). No amount, or no threshold for its currency: no match. */
  max_amount: MinorThresholdsSchema.optional(),
  /** The account's plan tier rank (catalog `tier_rank`) is at least this. Unknown account or plan: no match. */
  account_tier_at_least: z
    .number({ error: 'expected a catalog tier_rank (a whole number)' })
    .int('expected a catalog tier_rank (a whole number)')
    .min(0, 'expected a tier rank >= 0')
    .optional(),
  /** `true`: the record has any risk flag; a list: it has at least one of these. */
  any_risk_flag: z
    .preprocess(
      (v) => (v === true ? [...ALL_RISK_FLAGS] : v),
      z
        .array(flagEnum, { error: 'expected true (any risk flag) or a list of flags such as ["unknown_requester"]' })
        .min(1, 'an empty list matches nothing; use true for any flag'),
    )
    .optional(),
  /** Terminations whose early-termination fee is (true) or is not (false) waived; other kinds never match. */
  fee_waived: z.boolean({ error: 'expected true or false' }).optional(),
});
export type PolicyWhen = z.infer<typeof WhenSchema>;

const RuleSchema = strictObject({
  /** Unique; shown to approvers and recorded in the audit trail as the reason approval was (not) needed. */
  name: z.string({ error: 'every rule needs a "name"' }).trim().min(1, 'every rule needs a "name"').max(100, 'name is too long (max 100)'),
  when: WhenSchema.default({}),
  /** 0 = auto-approve; 1 or 2 = that many distinct approvers (never the requesting agent). */
  approvals: z.union([z.literal(0), z.literal(1), z.literal(2)], { error: 'expected 0 (auto-approve), 1 or 2' }),
  /** Replaces the top-level approvers for this rule. */
  approvers: ApproverSetSchema.optional(),
});

/**
 * How reversals are approved (a reversal undoes a change that was made). By default a reversal
 * needs the original's approvals plus one (at most 3), from the original's approvers.
 */
const ReversalRuleSchema = strictObject({
  /** Fixed number of distinct approvers for every reversal, instead of the original's plus one. */
  approvals: z.union([z.literal(1), z.literal(2), z.literal(3)], { error: 'expected 1, 2 or 3' }).optional(),
  /** Who may approve reversals, instead of the original's approvers. */
  approvers: ApproverSetSchema.optional(),
});

/**
 * Incident credit batches (README "Incidents"): one approval for every credit of an incident
 * posting. Who may approve (default: the top-level approvers), how many distinct people, and the
 * totals per currency above which a second approver is needed.
 */
const IncidentPolicySchema = strictObject({
  approvers: ApproverSetSchema.optional(),
  approvals: z.union([z.literal(1), z.literal(2)], { error: 'expected 1 or 2' }).default(1),
  /** A batch whose total in any of these currencies is above the threshold needs two approvers. */
  two_approvers_above: MinorThresholdsSchema.default({}),
});
export type IncidentPolicy = z.infer<typeof IncidentPolicySchema>;

export const PolicySchema = strictObject({
  /** Default approver set for rules that do not name their own. */
  approvers: ApproverSetSchema.default(NOBODY),
  reversals: ReversalRuleSchema.optional(),
  /** A pending approval is re-posted to its approvers after this long… */
  reminder_after_hours: hours('reminder_after_hours', 24 * 30).default(4),
  /** …and escalated (the escalation set is mentioned) after this long. */
  escalate_after_hours: hours('escalate_after_hours', 24 * 60).default(24),
  escalation: ApproverSetSchema.default(NOBODY),
  risk: RiskThresholdsSchema.default(RiskThresholdsSchema.parse({})),
  incidents: IncidentPolicySchema.default({ approvals: 1, two_approvers_above: {} }),
  /**
   * Kinds a customer may cancel themselves, through the signed link in a scheduled change's email,
   * until the change's instant. Default (unset): downgrade, upgrade, termination.
   */
  customer_may_cancel: z
    .preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(kindEnum, { error: 'expected a list of record kinds such as ["termination"]' }))
    .optional(),
  /** Retention offers required before chosen terminations and downgrades proceed, and the win-back follow-up (see retention.ts). */
  retention_offers: RetentionPolicySchema.optional(),
  rules: z
    .array(RuleSchema, { error: 'expected a list of rules' })
    .min(1, 'at least one rule is needed (the last one a catch-all)')
    .max(200, 'at most 200 rules'),
}).superRefine((p, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const seen = new Map<string, number>();
  const last = p.rules.length - 1;
  p.rules.forEach((r, i) => {
    const key = r.name.toLowerCase();
    const dup = seen.get(key);
    if (dup !== undefined)
      issue(['rules', i, 'name'], `duplicate rule name "${r.name}" (also rules[${dup}]); names identify the rule in approvals and the audit trail`);
    else seen.set(key, i);

    const set = r.approvers ?? p.approvers;
    const people = set.user_ids.length + set.user_groups.length;
    if (r.approvals === 0 && r.approvers)
      issue(['rules', i, 'approvers'], 'the rule auto-approves (approvals 0), so approvers would never be asked; remove them or require approval');
    if (r.approvals > 0 && people === 0) {
      issue(
        ['rules', i, 'approvers'],
        `needs ${r.approvals} approval${r.approvals > 1 ? 's' : ''} but names no approvers (here or in the top-level "approvers")`,
      );
    } else if (r.approvals === 2 && set.user_groups.length === 0 && set.user_ids.length < 2) {
      issue(['rules', i, 'approvers'], 'needs two distinct approvers but names only one person; add a second user id or a user group');
    }

    const w = r.when;
    const conditions = Object.keys(w).filter((k) => k !== '_comment' && w[k as keyof PolicyWhen] !== undefined);
    if (conditions.length === 0 && i !== last) {
      issue(
        ['rules', i, 'when'],
        `matches every record, so the rules after it (${p.rules
          .slice(i + 1)
          .map((x) => `"${x.name}"`)
          .join(', ')}) could never apply; only the last rule may be a catch-all`,
      );
    }
    if (w.kind && w.subtype) {
      w.subtype.forEach((s, j) => {
        if (!w.kind!.some((k) => (SUBTYPES[k] as readonly string[]).includes(s))) {
          issue(['rules', i, 'when', 'subtype', j], `"${s}" is not a subtype of ${w.kind!.join(' or ')}, so the rule could never match`);
        }
      });
    }
    if (w.fee_waived !== undefined && w.kind && !w.kind.includes('termination')) {
      issue(['rules', i, 'when', 'fee_waived'], 'only terminations have a fee to waive, and this rule does not match terminations');
    }
    if (w.min_amount && Object.keys(w.min_amount).length === 0) issue(['rules', i, 'when', 'min_amount'], 'names no currency, so the rule could never match');
    if (w.max_amount && Object.keys(w.max_amount).length === 0) issue(['rules', i, 'when', 'max_amount'], 'names no currency, so the rule could never match');
    if (w.min_amount && w.max_amount) {
      for (const [cur, min] of Object.entries(w.min_amount)) {
        const max = w.max_amount[cur];
        if (max !== undefined && max <= min)
          issue(['rules', i, 'when', 'max_amount', cur], `${max} is not above min_amount.${cur} ${min}, so no ${cur} amount could match`);
      }
    }
  });
  if (p.rules.length > 0) {
    const w = p.rules[last]!.when;
    if (Object.keys(w).some((k) => k !== '_comment' && w[k as keyof PolicyWhen] !== undefined)) {
      issue(['rules', last, 'when'], 'the last rule must be a catch-all (no "when") so every record gets a decision');
    }
  }
  const incidentSet = p.incidents.approvers ?? p.approvers;
  // Naming nobody is allowed (a policy that auto-approves everything); posting an incident is then refused.
  if (
    incidentSet.user_ids.length + incidentSet.user_groups.length > 0 &&
    (p.incidents.approvals === 2 || Object.keys(p.incidents.two_approvers_above).length > 0) &&
    incidentSet.user_groups.length === 0 &&
    incidentSet.user_ids.length < 2
  ) {
    issue(['incidents', 'approvers'], 'may need two distinct approvers but names only one person; add a second user id or a user group');
  }
  if (p.escalate_after_hours <= p.reminder_after_hours) {
    issue(['escalate_after_hours'], `must be later than reminder_after_hours (${p.reminder_after_hours})`);
  }
  if (p.rules.some((r) => r.approvals > 0) && p.escalation.user_ids.length + p.escalation.user_groups.length === 0) {
    issue(
      ['escalation'],
      'names nobody, but some rules need approval; name who is told when a request waits past escalate_after_hours (e.g. a leads user group)',
    );
  }
});

export type Policy = z.infer<typeof PolicySchema>;
export type PolicyRule = Policy['rules'][number];

export interface PolicyDecision {
  /** Name of the rule that decided. */
  readonly rule: string;
  /** 0 = auto-approve; reversals may need 3. */
  readonly approvals: 0 | 1 | 2 | 3;
  readonly approvers: { readonly user_ids: readonly string[]; readonly user_groups: readonly string[] };
  readonly reminder_after_hours: number;
  readonly escalate_after_hours: number;
  readonly escalation: { readonly user_ids: readonly string[]; readonly user_groups: readonly string[] };
}

/**
 * `rules[3] "big credits": when.min_amount.EUR` from a zod path. The raw document supplies the
 * rule's name; a list index the author did not write (a single `"kind": "x"` is read as a list)
 * is dropped so the path matches the file.
 */
function describePath(json: unknown, path: readonly PropertyKey[]): string {
  const written: PropertyKey[] = [];
  let node: unknown = json;
  for (const seg of path) {
    if (typeof seg === 'number' && !Array.isArray(node)) continue;
    written.push(seg);
    node = node !== null && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[seg] : undefined;
  }
  if (written[0] === 'rules' && typeof written[1] === 'number') {
    const name = (json as { rules: { name?: unknown }[] }).rules[written[1]]?.name;
    const rule = `rules[${written[1]}]${typeof name === 'string' && name.trim() ? ` "${name.trim()}"` : ''}`;
    return written.length > 2 ? `${rule}: ${formatPath(written.slice(2))}` : rule;
  }
  return formatPath(written) || '(top level)';
}

/**
 * Validates a decoded policy document. Refusals list every problem, one per line, as
 * `<file>: rules[3] "big credits": when.min_amount.EUR: expected integer minor units…`.
 */
export function parsePolicy(json: unknown, source: string): Policy {
  const r = PolicySchema.safeParse(json);
  if (r.success) return r.data;
  const problems: Problem[] = r.error.issues.map((i) => ({ field: describePath(json, i.path), message: i.message }));
  const lines = problems.map((p) => `  ${source}: ${p.field}: ${p.message}`);
  throw new AppError(
    'policy_invalid',
    `Approval policy ${source} is invalid; fix ${problems.length === 1 ? 'this' : `these ${problems.length} problems`} and restart:\n${lines.join('\n')}`,
    {
      problems,
      details: { source },
    },
  );
}

function amountMatches(thresholds: Record<string, number>, record: LifecycleRecord, test: (abs: number, threshold: number) => boolean): boolean {
  if (!record.amount || !Object.prototype.hasOwnProperty.call(thresholds, record.amount.currency)) return false;
  return test(Math.abs(record.amount.amount_minor), thresholds[record.amount.currency]!);
}

/** Whether every condition of the rule holds for the record. */
export function ruleMatches(rule: PolicyRule, record: LifecycleRecord, ctx: { accountTierRank: number | null }): boolean {
  const w = rule.when;
  if (w.kind && !w.kind.includes(record.kind)) return false;
  if (w.subtype && !w.subtype.includes(record.subtype)) return false;
  if (w.min_amount && !amountMatches(w.min_amount, record, (abs, t) => abs >= t)) return false;
  if (w.max_amount && !amountMatches(w.max_amount, record, (abs, t) => abs < t)) return false;
  if (w.account_tier_at_least !== undefined && (ctx.accountTierRank === null || ctx.accountTierRank < w.account_tier_at_least)) return false;
  if (w.any_risk_flag && !record.risk_flags.some((f) => w.any_risk_flag!.includes(f))) return false;
  if (w.fee_waived !== undefined) {
    if (record.kind !== 'termination') return false;
    if (((record.details as { fee_waived?: unknown }).fee_waived === true) !== w.fee_waived) return false;
  }
  return true;
}

/**
 * What the policy asks for this record: the first rule that matches decides. `record.risk_flags`
 * must already hold the flags computed on submit. Pure.
 */
export function decidePolicy(policy: Policy, record: LifecycleRecord, ctx: { accountTierRank: number | null }): PolicyDecision {
  // A parsed policy ends with a catch-all, so find() always succeeds; the fallback keeps the type total.
  const rule = policy.rules.find((r) => ruleMatches(r, record, ctx)) ?? policy.rules[policy.rules.length - 1]!;
  return {
    rule: rule.name,
    approvals: rule.approvals,
    approvers: rule.approvers ?? policy.approvers,
    reminder_after_hours: policy.reminder_after_hours,
    escalate_after_hours: policy.escalate_after_hours,
    escalation: policy.escalation,
  };
}

/** Every approver user group the policy names, for membership look-ups. */
export function policyGroups(policy: Policy): string[] {
  return [
    ...new Set([
      ...policy.approvers.user_groups,
      ...(policy.reversals?.approvers?.user_groups ?? []),
      ...policy.rules.flatMap((r) => (r.approvals > 0 ? (r.approvers?.user_groups ?? []) : [])),
      ...(policy.incidents.approvers?.user_groups ?? []),
    ]),
  ];
}

/** What the original record was approved under: its approval request, or the rule that auto-approved it. */
export interface OriginalApproval {
  readonly rule: string;
  readonly approvals_required: number;
  readonly approvers: { readonly user_ids: readonly string[]; readonly user_groups: readonly string[] };
}

/**
 * The approval a reversal needs: `policy.reversals` when set, else the original's approvals plus
 * one (at most 3) from the original's approvers. A set of people too small for that many distinct
 * approvers (and no user group) is widened with the escalation set, so the reversal can still be
 * decided by the people who are told about stuck approvals.
 */
export function decideReversal(policy: Policy, original: OriginalApproval): PolicyDecision {
  const r = policy.reversals;
  const approvals = (r?.approvals ?? Math.min(3, Math.max(0, original.approvals_required) + 1)) as 1 | 2 | 3;
  let approvers = r?.approvers ?? original.approvers;
  if (approvers.user_ids.length + approvers.user_groups.length === 0) approvers = policy.approvers;
  if (approvers.user_groups.length === 0 && approvers.user_ids.length < approvals) {
    approvers = {
      user_ids: [...new Set([...approvers.user_ids, ...policy.approvers.user_ids, ...policy.escalation.user_ids])],
      user_groups: [...new Set([...policy.approvers.user_groups, ...policy.escalation.user_groups])],
    };
  }
  return {
    rule: `reversal (${original.rule})`.slice(0, 200),
    approvals,
    approvers,
    reminder_after_hours: policy.reminder_after_hours,
    escalate_after_hours: policy.escalate_after_hours,
    escalation: policy.escalation,
  };
}

/** What the policy asks for one incident credit batch, given its totals per currency. Pure. */
export function decideIncidentPolicy(policy: Policy, totals: readonly { readonly currency: string; readonly amount_minor: number }[]): PolicyDecision {
  const p = policy.incidents;
  const over = totals.filter((t) => p.two_approvers_above[t.currency] !== undefined && t.amount_minor > p.two_approvers_above[t.currency]!);
  const approvals: 1 | 2 = over.length ? 2 : p.approvals;
  return {
    rule: over.length ? `incident credits above ${over.map((t) => `${p.two_approvers_above[t.currency]} ${t.currency}`).join(', ')}` : 'incident credits',
    approvals,
    approvers: p.approvers ?? policy.approvers,
    reminder_after_hours: policy.reminder_after_hours,
    escalate_after_hours: policy.escalate_after_hours,
    escalation: policy.escalation,
  };
}
