import { systemActor } from '../records/actors';
import { findPlan } from '../records/catalog';
import { AppError } from '../records/errors';
import type { LifecycleRecord } from '../records/kinds';
import { decidePolicy, decideReversal } from '../records/policy';
import type { Policy, PolicyDecision } from '../records/policy';
import { explainRiskFlags } from '../records/risk';
import type { ProviderPreviewFacts } from '../records/risk';
import { billingEffectsFor } from '../records/billing';
import type { BillingAdjustment, BillingPreview, BillingProvider, OutboxMessage, UnitOfWork } from '../records/ports';
import { adjustmentFor } from './apply-record';
import type { AppDeps } from './deps';
import { transitionIn } from './transition-record';
import { TOPICS } from './topics';
import { holdForRetentionOffer } from './retention-offers';

export interface PolicyDeps extends Pick<AppDeps, 'store' | 'clock' | 'catalog'> {
  readonly policy: Policy;
  /** The billing provider, asked for its own figure before approval (when it can preview). */
  readonly billing?: BillingProvider;
}

export type PolicyOutcome =
  | { readonly status: 'auto_approved' | 'approval_requested'; readonly decision: PolicyDecision; readonly flags: readonly string[] }
  | { readonly status: 'not_submitted' }
  /** Held for the customer's answer to a retention offer (the policy runs again once it is declined). */
  | { readonly status: 'retention_offer_pending' };

const POLICY = systemActor('policy');
const HOUR = 3_600_000;

/** Delayed jobs that re-post a pending approval, then escalate it; they do nothing once it is decided. */
function reminders(record: LifecycleRecord, decision: PolicyDecision, now: Date): OutboxMessage[] {
  const at = (hours: number) => new Date(now.getTime() + hours * HOUR).toISOString();
  return [
    {
      topic: TOPICS.approvalRequest,
      key: `approval-request.${record.id}.reminder`,
      payload: { record_id: record.id, kind: 'reminder' },
      available_at: at(decision.reminder_after_hours),
    },
    {
      topic: TOPICS.approvalRequest,
      key: `approval-request.${record.id}.escalation`,
      payload: { record_id: record.id, kind: 'escalation' },
      available_at: at(decision.escalate_after_hours),
    },
  ];
}

/**
 * The policy step for a submitted record: compute its risk flags from the database, store them on
 * the record, and either auto-approve it or ask for approval (recording what the policy asked for
 * and scheduling the reminder and escalation). One transaction; a second run finds the record no
 * longer submitted and does nothing.
 */
export async function evaluatePolicy(deps: PolicyDeps, recordId: string): Promise<PolicyOutcome> {
  const preview = await providerPreview(deps, recordId);
  return deps.store.transaction(async (uow) => {
    const record = await uow.records.getForUpdate(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
    const { record: _after, ...outcome } = await evaluatePolicyIn(uow, deps, record, deps.clock.now(), preview);
    return outcome as PolicyOutcome;
  });
}

/**
 * The policy step inside the caller's transaction, on a record it has locked. `preview` is the
 * provider's figure taken beforehand (outside any transaction when the provider is remote).
 * With `followUps: false` the auto-approval queues nothing (the caller carries on in the same
 * transaction and queues what its final state needs).
 */
export async function evaluatePolicyIn(
  uow: UnitOfWork,
  deps: PolicyDeps,
  record: LifecycleRecord,
  now: Date,
  preview: BillingPreview | null,
  opts: { followUps?: boolean } = {},
): Promise<PolicyOutcome & { record: LifecycleRecord }> {
  const recordId = record.id;
  if (record.state !== 'submitted') return { status: 'not_submitted', record };
  const held = await holdForRetentionOffer(uow, deps, record, now);
  if (held) return { status: 'retention_offer_pending', record: held };
  const account = await uow.accounts.get(record.account_id);
  const facts = await uow.risk.facts(record, now, deps.policy.risk);
  const computed = preview && preview.amount ? record.amount : null;
  const previewFacts: ProviderPreviewFacts | null = preview
    ? { provider: preview.provider, amount: preview.amount, computed, unavailable: preview.unavailable ?? null }
    : null;
  if (preview) {
    const difference =
      preview.amount && computed && preview.amount.currency === computed.currency
        ? { amount_minor: preview.amount.amount_minor - computed.amount_minor, currency: computed.currency }
        : null;
    await uow.billingPreviews.save(record.id, { ...preview, computed, difference });
  }
  const explained = explainRiskFlags(record, account, facts, deps.policy.risk, previewFacts);
  const flags = explained.map((e) => e.flag);
  const plan = account ? findPlan(deps.catalog, account.plan_id) : undefined;
  const ctx = { accountTierRank: plan?.tier_rank ?? null };
  // A reversal is decided by its own rule (the original's approvals plus one), not the rules for new requests.
  const decision = record.reverses_record_id
    ? await reversalDecision(uow, deps.policy, record.reverses_record_id, ctx)
    : decidePolicy(deps.policy, { ...record, risk_flags: flags }, ctx);
  const data = {
    rule: decision.rule,
    approvals_required: decision.approvals,
    risk_flags: flags,
    ...(preview
      ? {
          billing_preview: {
            provider: preview.provider,
            amount: preview.amount,
            computed,
            outstanding: preview.outstanding ?? null,
            unavailable: preview.unavailable ?? null,
          },
        }
      : {}),
  };
  if (decision.approvals === 0) {
    const { record: approved } = await transitionIn(uow, now, {
      recordId,
      event: 'auto_approve',
      actor: POLICY,
      expectedVersion: record.version,
      patch: { risk_flags: flags },
      data,
      followUps: opts.followUps ?? true,
    });
    return { status: 'auto_approved', decision, flags, record: approved };
  }
  const { record: pending } = await transitionIn(uow, now, {
    recordId,
    event: 'request_approval',
    actor: POLICY,
    expectedVersion: record.version,
    patch: { risk_flags: flags },
    data,
    messages: (r) => reminders(r, decision, now),
  });
  await uow.approvals.create({
    record_id: pending.id,
    rule: decision.rule,
    approvals_required: decision.approvals,
    approvers: decision.approvers,
    escalation: decision.escalation,
    risk: explained,
    reminder_after_hours: decision.reminder_after_hours,
    escalate_after_hours: decision.escalate_after_hours,
    channel: null,
    messages: [],
    requested_at: now.toISOString(),
    decided_at: null,
    outcome: null,
  });
  return { status: 'approval_requested', decision, flags, record: pending };
}

/**
 * A reversal's own rule (see `decideReversal`): what its original was approved under — the
 * approval request it had, or the rule that auto-approved it — plus one approver.
 */
async function reversalDecision(uow: UnitOfWork, policy: Policy, originalId: string, ctx: { accountTierRank: number | null }): Promise<PolicyDecision> {
  const request = await uow.approvals.get(originalId);
  if (request) return decideReversal(policy, request);
  const original = await uow.records.get(originalId);
  if (!original) throw new AppError('not_found', `The record ${originalId} this reversal undoes no longer exists`, { retryable: false });
  const auto = decidePolicy(policy, original, ctx);
  return decideReversal(policy, { rule: auto.rule, approvals_required: auto.approvals, approvers: auto.approvers });
}

/**
 * The provider's own figure for a submitted record, taken before the policy runs (outside any
 * transaction: it is a network call). A provider that cannot preview this record says why, and
 * that raises `provider_amount_mismatch`; a provider that is unreachable right now fails the job
 * so it is tried again rather than approving on a guess.
 */
export async function providerPreview(deps: PolicyDeps, recordId: string): Promise<BillingPreview | null> {
  const billing = deps.billing;
  if (!billing?.preview) return null;
  const adjustment = await deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    return record ? previewAdjustmentIn(uow, deps, record) : null;
  });
  return adjustment ? previewOf(billing, adjustment) : null;
}

/** The adjustment a preview is asked for (the record's main effect), or null when there is none to ask about. */
export async function previewAdjustmentIn(uow: UnitOfWork, deps: Pick<PolicyDeps, 'catalog'>, record: LifecycleRecord): Promise<BillingAdjustment | null> {
  if (record.state !== 'submitted') return null;
  const account = await uow.accounts.get(record.account_id);
  if (!account) return null;
  const targetId = record.subtype === 'merge' ? (record.details.merge as { target_account_id?: string } | undefined)?.target_account_id : undefined;
  const target = targetId ? await uow.accounts.get(targetId) : null;
  const main = billingEffectsFor(record, account, deps.catalog, target).find((e) => e.key === 'apply');
  return main ? adjustmentFor(record, account, main, 'apply', 'apply') : null;
}

/** Asks the provider for its figure; one that cannot preview this record says why (a `provider_amount_mismatch` flag follows). */
export async function previewOf(billing: BillingProvider, adjustment: BillingAdjustment): Promise<BillingPreview | null> {
  if (!billing.preview) return null;
  try {
    const preview = await billing.preview(adjustment);
    return preview.amount || preview.outstanding || preview.unavailable ? preview : null;
  } catch (err) {
    if (err instanceof AppError && !err.retryable) return { provider: billing.name, amount: null, unavailable: err.message.slice(0, 300) };
    throw err;
  }
}
