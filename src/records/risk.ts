import { z } from 'zod';
import type { Account } from './accounts';
import type { LifecycleRecord, State } from './kinds';
import { formatMoney, isCurrency } from './money';
import type { Money } from './money';

/**
 * Risk flags computed when a record is submitted (DESIGN.md section 2). They are stored on the
 * record, shown to approvers with a sentence each, and policy rules can make them force approval.
 * Pure: the database supplies the counts ({@link RiskFacts}), the policy file the thresholds.
 */
export const RISK_FLAGS = {
  repeatedStatusRequests: 'repeated_status_requests',
  creditAboveMrrShare: 'credit_above_mrr_share',
  creditRollingTotal: 'credit_rolling_total',
  agentCreditVolume: 'agent_credit_volume',
  statusFlipFlop: 'status_flip_flop',
  unknownRequester: 'unknown_requester',
  providerAmountMismatch: 'provider_amount_mismatch',
} as const;
export type RiskFlag = (typeof RISK_FLAGS)[keyof typeof RISK_FLAGS];
export const ALL_RISK_FLAGS: readonly RiskFlag[] = Object.values(RISK_FLAGS);

/**
 * Which other records count towards the facts. Drafts never reached anyone, and a withdrawn
 * (cancelled) record is usually a mistake corrected, so neither ever counts.
 * - `requests`: asking is the signal, so a refused request still counts (asking again after a "no"
 *   is exactly the pattern repeated-request and agent-volume flags exist to catch).
 * - `effects`: only changes that happened or may still happen — a rejected credit pays nothing and
 *   a rejected suspension changes no status.
 */
export const RISK_COUNTED_STATES: { readonly requests: readonly State[]; readonly effects: readonly State[] } = {
  requests: [
    'submitted',
    'pending_approval',
    'approved',
    'rejected',
    'scheduled',
    'applying',
    'applied',
    'failed',
    'confirmed',
    'closed',
    'disputed',
    'resolved',
  ],
  effects: ['submitted', 'pending_approval', 'approved', 'scheduled', 'applying', 'applied', 'failed', 'confirmed', 'closed', 'disputed', 'resolved'],
};

/** Status-change subtypes that count as a suspension/deactivation request. */
export const STATUS_REQUEST_SUBTYPES: readonly string[] = ['suspension', 'deactivation'];

const days = (what: string) =>
  z
    .number({ error: `expected ${what} as a whole number of days` })
    .int(`expected ${what} as a whole number of days`)
    .min(1, `${what} must be at least 1 day`)
    .max(3650, `${what} must be at most 3650 days`);
const count = (what: string, min: number) =>
  z
    .number({ error: `expected ${what} as a whole number` })
    .int(`expected ${what} as a whole number`)
    .min(min, `${what} must be at least ${min}`);
/** At most 2 decimals, so MRR comparisons stay exact integer maths (see {@link overPercent}). */
const percent = (what: string) =>
  z
    .number({ error: `expected ${what} as a number (percent)` })
    .positive(`${what} must be above 0`)
    .max(10_000, `${what} must be at most 10000`)
    .refine((n) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-9, `${what} may have at most 2 decimal places`);

/** `{ "EUR": 100000, "JPY": 150000 }`: integer minor units per ISO 4217 currency. */
export const MinorThresholdsSchema = z
  .record(z.string(), z.unknown(), { error: 'expected an object of currency → integer minor units, e.g. { "EUR": 10000, "JPY": 15000 }' })
  .superRefine((m, ctx) => {
    for (const [code, v] of Object.entries(m)) {
      if (!isCurrency(code))
        ctx.addIssue({ code: 'custom', path: [code], message: `"${code}" is not an ISO 4217 currency code (upper case, e.g. EUR, USD, JPY)` });
      else if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
        ctx.addIssue({
          code: 'custom',
          path: [code],
          message: `expected integer minor units >= 0 (10000 = 100.00 EUR; JPY has no decimals), got ${JSON.stringify(v)}`,
        });
      }
    }
  })
  .transform((m) => m as Record<string, number>);

const unknownKeys = (allowed: readonly string[]) => (iss: { code?: string; keys?: string[] }) =>
  iss.code === 'unrecognized_keys' && iss.keys
    ? `unknown field${iss.keys.length > 1 ? 's' : ''} ${iss.keys.map((k) => `"${k}"`).join(', ')}; expected: ${allowed.join(', ')}`
    : undefined;

const riskShape = {
  _comment: z.union([z.string(), z.array(z.string())]).optional(),
  /** repeated_status_requests: this many OTHER suspension/deactivation requests of the account within the window. */
  status_requests_at_least: count('status_requests_at_least', 1).default(2),
  status_window_days: days('status_window_days').default(30),
  /** credit_above_mrr_share: one credit above this share of the account's MRR. */
  credit_mrr_share_percent: percent('credit_mrr_share_percent').default(50),
  /** credit_rolling_total: credits over the rolling window (this one included) above this share of MRR… */
  rolling_credit_mrr_percent: percent('rolling_credit_mrr_percent').default(100),
  /** …or above this absolute total in the record's currency (minor units); a currency not listed has no absolute limit. */
  rolling_credit_max: MinorThresholdsSchema.default({}),
  rolling_credit_days: days('rolling_credit_days').default(90),
  /** agent_credit_volume: credits one agent filed within the window, this one included. */
  agent_credits_at_least: count('agent_credits_at_least', 1).default(10),
  agent_window_days: days('agent_window_days').default(30),
  /** status_flip_flop: status changes of the account within the window, this one included (suspend, reactivate, suspend = 3). */
  flip_flop_changes_at_least: count('flip_flop_changes_at_least', 2).default(3),
  flip_flop_window_days: days('flip_flop_window_days').default(60),
  /**
   * provider_amount_mismatch: how far the billing provider's own preview may differ from Lifecycle
   * Desk's figure, per currency in minor units; a currency not listed must match exactly.
   */
  provider_amount_tolerance: MinorThresholdsSchema.default({}),
};

/** Thresholds (the `risk` section of the policy file); every one has a cautious default. */
export const RiskThresholdsSchema = z.strictObject(riskShape, { error: unknownKeys(Object.keys(riskShape).filter((k) => k !== '_comment')) });
export type RiskThresholds = z.infer<typeof RiskThresholdsSchema>;

/** The defaults, for callers that have no policy file section. */
export const DEFAULT_RISK_THRESHOLDS: RiskThresholds = RiskThresholdsSchema.parse({});

/**
 * The numbers the database supplies for one record (see `loadRiskFacts`). The record itself is
 * never counted in them; windows end at the evaluation time and reach back the configured days.
 */
export interface RiskFacts {
  /** Other suspension/deactivation requests of the account within `status_window_days` (states: `requests`). */
  readonly recentStatusRequests: number;
  /** Other status changes of the account within `flip_flop_window_days` (states: `effects`). */
  readonly recentStatusChanges: number;
  /** Sum of other credits of the account (positive minor units, the record's currency) within `rolling_credit_days` (states: `effects`). */
  readonly rollingCreditsMinor: number;
  /** Other credits the same agent filed within `agent_window_days`, on any account (states: `requests`). */
  readonly agentCredits: number;
}

/** The billing provider's own figure for the record, taken before approval (see `BillingPreview`). */
export interface ProviderPreviewFacts {
  readonly provider: string;
  /** What the provider will invoice (negative: credit); null when it has no figure. */
  readonly amount: Money | null;
  /** Lifecycle Desk's own figure for the same thing. */
  readonly computed: Money | null;
  /** Why the provider has no figure, when it could not preview at all. */
  readonly unavailable?: string | null;
}

const PROVIDER_LABEL: Record<string, string> = { stripe: 'Stripe', ledger: 'The ledger', webhook: 'The billing system' };
export const providerLabel = (p: string): string => PROVIDER_LABEL[p] ?? p;

/** "Stripe will invoice €42.10; Lifecycle Desk computed €42.10" (credits said as credits). */
export function previewSentence(p: Pick<ProviderPreviewFacts, 'provider' | 'amount' | 'computed'>): string | null {
  if (!p.amount) return null;
  const what = (m: Money) => (m.amount_minor < 0 ? `credit ${formatMoney({ ...m, amount_minor: -m.amount_minor })}` : `invoice ${formatMoney(m)}`);
  const ours = p.computed
    ? p.computed.amount_minor < 0
      ? `a credit of ${formatMoney({ ...p.computed, amount_minor: -p.computed.amount_minor })}`
      : formatMoney(p.computed)
    : 'nothing';
  return `${providerLabel(p.provider)} will ${what(p.amount)}; Lifecycle Desk computed ${ours}`;
}

export interface RiskExplanation {
  readonly flag: RiskFlag;
  /** One sentence for approvers; names numbers and windows, never the customer's contact details. */
  readonly message: string;
}

/** Positive credit in minor units, or 0 when the record is not a credit. */
const creditOf = (r: LifecycleRecord): number => (r.kind === 'service_credit' && r.amount && r.amount.amount_minor < 0 ? -r.amount.amount_minor : 0);
const isStatusRequest = (r: LifecycleRecord) => r.kind === 'status_change' && STATUS_REQUEST_SUBTYPES.includes(r.subtype);

/** amount > percent% of base, in exact integer maths (percent has at most 2 decimals). */
function overPercent(amount: number, base: number, percent: number): boolean {
  return BigInt(amount) * 10_000n > BigInt(base) * BigInt(Math.round(percent * 100));
}

/**
 * Which flags a record raises, each with a sentence an approver can read; sorted by flag. Pure.
 * MRR comparisons need the account's MRR in the record's currency; an account billed in another
 * currency is only checked against the absolute `rolling_credit_max`. An account with no MRR
 * (0) makes every credit "above its share": crediting a non-paying account deserves a look.
 */
export function explainRiskFlags(
  record: LifecycleRecord,
  account: Account | null,
  facts: RiskFacts,
  t: RiskThresholds,
  preview: ProviderPreviewFacts | null = null,
): RiskExplanation[] {
  const out: RiskExplanation[] = [];
  const mismatch = previewMismatch(preview, t);
  if (mismatch) out.push({ flag: RISK_FLAGS.providerAmountMismatch, message: mismatch });
  const credit = creditOf(record);
  const cur = record.amount?.currency ?? account?.currency ?? 'EUR';
  const m = (minor: number) => formatMoney({ amount_minor: minor, currency: cur });
  const mrr = account && account.currency === cur ? account.mrr_minor : null;

  if (isStatusRequest(record) && facts.recentStatusRequests >= t.status_requests_at_least) {
    out.push({
      flag: RISK_FLAGS.repeatedStatusRequests,
      message: `${facts.recentStatusRequests + 1} suspension/deactivation requests for this account in the last ${t.status_window_days} days, this one included`,
    });
  }
  if (record.kind === 'status_change' && facts.recentStatusChanges + 1 >= t.flip_flop_changes_at_least) {
    out.push({
      flag: RISK_FLAGS.statusFlipFlop,
      message: `${facts.recentStatusChanges + 1} status changes for this account in the last ${t.flip_flop_window_days} days, this one included`,
    });
  }
  if (credit > 0) {
    if (mrr !== null && overPercent(credit, mrr, t.credit_mrr_share_percent)) {
      out.push({
        flag: RISK_FLAGS.creditAboveMrrShare,
        message:
          mrr === 0
            ? `credit ${m(credit)} for an account with no recurring revenue`
            : `credit ${m(credit)} is more than ${t.credit_mrr_share_percent}% of the account's MRR (${m(mrr)})`,
      });
    }
    const rolling = facts.rollingCreditsMinor + credit;
    const max = t.rolling_credit_max[cur];
    const reasons = [
      ...(max !== undefined && rolling > max ? [`limit ${m(max)}`] : []),
      ...(mrr !== null && overPercent(rolling, mrr, t.rolling_credit_mrr_percent) ? [`more than ${t.rolling_credit_mrr_percent}% of MRR ${m(mrr)}`] : []),
    ];
    if (reasons.length) {
      out.push({
        flag: RISK_FLAGS.creditRollingTotal,
        message: `credits in the last ${t.rolling_credit_days} days would total ${m(rolling)} with this one (${reasons.join('; ')})`,
      });
    }
    if (facts.agentCredits + 1 >= t.agent_credits_at_least) {
      out.push({
        flag: RISK_FLAGS.agentCreditVolume,
        message: `the requesting agent filed ${facts.agentCredits + 1} credits in the last ${t.agent_window_days} days, this one included`,
      });
    }
  }
  const email = record.requester?.email.trim().toLowerCase();
  if (email && account && !account.contacts.some((c) => c.trim().toLowerCase() === email)) {
    out.push({
      flag: RISK_FLAGS.unknownRequester,
      message: `the customer who asked is not one of the account's ${account.contacts.length} known contact${account.contacts.length === 1 ? '' : 's'}`,
    });
  }
  return out.sort((a, b) => a.flag.localeCompare(b.flag));
}

/**
 * Why the provider's preview cannot be trusted to match ours, or null: it could not preview (fail
 * closed: an amount nobody could check is not approved blind), or the two figures differ by more
 * than the currency's tolerance.
 */
function previewMismatch(p: ProviderPreviewFacts | null, t: RiskThresholds): string | null {
  if (!p) return null;
  if (p.unavailable) return `${providerLabel(p.provider)} could not preview this change (${p.unavailable.slice(0, 200)}); the amount it will bill is unknown`;
  if (!p.amount || !p.computed) return null;
  if (p.amount.currency !== p.computed.currency) return `${previewSentence(p)}, in another currency`;
  const diff = Math.abs(p.amount.amount_minor - p.computed.amount_minor);
  const tolerance = t.provider_amount_tolerance[p.amount.currency] ?? 0;
  if (diff <= tolerance) return null;
  const m = (minor: number) => formatMoney({ amount_minor: minor, currency: p.amount!.currency });
  return `${previewSentence(p)}: ${m(diff)} apart, more than the ${m(tolerance)} tolerance`;
}

/** The flags alone, sorted and unique, as stored on the record. */
export function computeRiskFlags(
  record: LifecycleRecord,
  account: Account | null,
  facts: RiskFacts,
  t: RiskThresholds,
  preview: ProviderPreviewFacts | null = null,
): string[] {
  return explainRiskFlags(record, account, facts, t, preview).map((e) => e.flag);
}
