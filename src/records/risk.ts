import { z } from 'zod';
import type { Account } from './accounts';
import type { LifecycleRecord } from './kinds';
import { formatMoney } from './money';

/** Risk flags computed when a record is submitted (DESIGN.md section 2). Stored on the record, shown to approvers. */
export const RISK_FLAGS = {
  repeatedStatusRequests: 'repeated_status_requests',
  creditAboveMrrShare: 'credit_above_mrr_share',
  creditRollingTotal: 'credit_rolling_total',
  agentCreditVolume: 'agent_credit_volume',
  statusFlipFlop: 'status_flip_flop',
  unknownRequester: 'unknown_requester',
} as const;
export type RiskFlag = (typeof RISK_FLAGS)[keyof typeof RISK_FLAGS];

/** Thresholds (the `risk` section of the policy file); every one has a cautious default. */
export const RiskThresholdsSchema = z
  .object({
    /** Suspension/deactivation requests for one account within `status_window_days` (this one excluded) that raise the flag. */
    status_requests_at_least: z.number().int().min(1).default(2),
    status_window_days: z.number().int().min(1).max(3650).default(30),
    /** A credit above this share of the account's MRR (percent). */
    credit_mrr_share_percent: z.number().positive().max(10_000).default(50),
    /** Credits over the rolling window, this one included, above this share of MRR (percent)… */
    rolling_credit_mrr_percent: z.number().positive().max(10_000).default(100),
    /** …or above this absolute total per currency (minor units). */
    rolling_credit_max: z.record(z.string().regex(/^[A-Z]{3}$/, 'expected an ISO 4217 code'), z.number().int().min(0)).default({}),
    rolling_credit_days: z.number().int().min(1).max(3650).default(90),
    /** Credits one agent filed within `agent_window_days` (this one included). */
    agent_credits_at_least: z.number().int().min(1).default(10),
    agent_window_days: z.number().int().min(1).max(3650).default(30),
    /** Status changes of the account within `flip_flop_window_days` (this one included). */
    flip_flop_changes_at_least: z.number().int().min(2).default(3),
    flip_flop_window_days: z.number().int().min(1).max(3650).default(60),
  })
  .strict();
export type RiskThresholds = z.infer<typeof RiskThresholdsSchema>;

/** The numbers the database supplies for one record; the record itself is never counted in them. */
export interface RiskFacts {
  /** Other suspension/deactivation requests of the account within the status window. */
  readonly recentStatusRequests: number;
  /** Other status changes of the account within the flip-flop window. */
  readonly recentStatusChanges: number;
  /** Credits (positive minor units, record currency) of other records within the rolling window. */
  readonly rollingCreditsMinor: number;
  /** Other credits the same agent filed within the agent window. */
  readonly agentCredits: number;
}

export interface RiskExplanation {
  readonly flag: RiskFlag;
  readonly message: string;
}

const creditOf = (r: LifecycleRecord): number => (r.kind === 'service_credit' && r.amount && r.amount.amount_minor < 0 ? -r.amount.amount_minor : 0);
const isStatusRequest = (r: LifecycleRecord) => r.kind === 'status_change' && (r.subtype === 'suspension' || r.subtype === 'deactivation');

/** Which flags a record raises, each with a sentence an approver can read. Pure. */
export function explainRiskFlags(record: LifecycleRecord, account: Account | null, facts: RiskFacts, t: RiskThresholds): RiskExplanation[] {
  const out: RiskExplanation[] = [];
  const credit = creditOf(record);
  const cur = record.amount?.currency ?? account?.currency ?? 'EUR';
  const m = (minor: number) => formatMoney({ amount_minor: minor, currency: cur });
  const mrr = account && account.currency === cur ? account.mrr_minor : null;

  if (isStatusRequest(record) && facts.recentStatusRequests >= t.status_requests_at_least) {
    out.push({
      flag: RISK_FLAGS.repeatedStatusRequests,
      message: `${facts.recentStatusRequests + 1} suspension/deactivation requests for this account in the last ${t.status_window_days} days`,
    });
  }
  if (record.kind === 'status_change' && facts.recentStatusChanges + 1 >= t.flip_flop_changes_at_least) {
    out.push({
      flag: RISK_FLAGS.statusFlipFlop,
      message: `${facts.recentStatusChanges + 1} status changes for this account in the last ${t.flip_flop_window_days} days`,
    });
  }
  if (credit > 0) {
    if (mrr !== null && credit * 100 > mrr * t.credit_mrr_share_percent) {
      out.push({ flag: RISK_FLAGS.creditAboveMrrShare, message: `credit ${m(credit)} is more than ${t.credit_mrr_share_percent}% of the account's MRR (${m(mrr)})` });
    }
    const rolling = facts.rollingCreditsMinor + credit;
    const max = t.rolling_credit_max[cur];
    const overShare = mrr !== null && rolling * 100 > mrr * t.rolling_credit_mrr_percent;
    const overMax = max !== undefined && rolling > max;
    if (overShare || overMax) {
      out.push({
        flag: RISK_FLAGS.creditRollingTotal,
        message: `credits in the last ${t.rolling_credit_days} days would total ${m(rolling)}` + (overMax ? ` (limit ${m(max!)})` : ` (over ${t.rolling_credit_mrr_percent}% of MRR)`),
      });
    }
    if (facts.agentCredits + 1 >= t.agent_credits_at_least) {
      out.push({ flag: RISK_FLAGS.agentCreditVolume, message: `the requesting agent filed ${facts.agentCredits + 1} credits in the last ${t.agent_window_days} days` });
    }
  }
  const email = record.requester?.email?.toLowerCase();
  if (email && account && !account.contacts.some((c) => c.toLowerCase() === email)) {
    out.push({ flag: RISK_FLAGS.unknownRequester, message: 'the customer contact who asked is not a known contact of the account' });
  }
  return out.sort((a, b) => a.flag.localeCompare(b.flag));
}

export function computeRiskFlags(record: LifecycleRecord, account: Account | null, facts: RiskFacts, t: RiskThresholds): string[] {
  return explainRiskFlags(record, account, facts, t).map((e) => e.flag);
}
