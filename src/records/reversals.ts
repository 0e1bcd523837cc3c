import type { Actor } from './actors';
import type { ReversalSnapshot } from './billing';
import type { LifecycleRecord, State } from './kinds';
import type { ConfirmedAdjustment } from './ports';

/**
 * Reversals, pure. A reversal is a record of its own, linked to the record it undoes
 * (`reverses_record_id`), with its own approval and its own billing keys:
 *  - a service credit: the money the provider confirmed is taken back, item by item;
 *  - a plan change (upgrade or downgrade): the plan moves back, and any proration it moved is
 *    taken back, so the pair nets to zero;
 *  - a termination that has not reached its instant: it is withdrawn (the original is cancelled
 *    when the reversal is applied, which also undoes what the provider was told in advance).
 * Status changes are reversed by the opposite status change (a reactivation for a suspension),
 * which has its own approval rule already.
 */

/** States from which a change that was made can be reversed. */
const MADE: readonly State[] = ['applied', 'confirmed', 'disputed', 'resolved', 'closed'];

/** Why `original` cannot be reversed now, in words an agent can act on; null when it can. */
export function reversalProblem(original: LifecycleRecord, now: Date): string | null {
  if (original.reverses_record_id) return `record ${original.id} is itself a reversal; file the original change again instead`;
  switch (original.kind) {
    case 'service_credit':
    case 'upgrade':
    case 'downgrade':
      return MADE.includes(original.state)
        ? null
        : `record ${original.id} is ${original.state}; only a change that was made (applied, confirmed, disputed, resolved or closed) can be reversed`;
    case 'termination':
      if (original.state !== 'scheduled') {
        return original.state === 'pending_approval' || original.state === 'approved'
          ? `record ${original.id} is ${original.state}; withdraw it with POST /api/records/${original.id}/cancel instead`
          : `record ${original.id} is ${original.state}; a termination can be reversed only while it is scheduled, before its instant (once it took effect, file a reactivation)`;
      }
      if (original.effective_at && Date.parse(original.effective_at) <= now.getTime()) {
        return `record ${original.id} took effect at ${original.effective_at}; a termination can be withdrawn only before its instant (file a reactivation)`;
      }
      return null;
    case 'status_change':
      return `record ${original.id} is a status change; reverse it with the opposite status change (a reactivation for a suspension or deactivation), which has its own approval rule`;
  }
}

export interface ReversalInput {
  readonly id: string;
  readonly original: LifecycleRecord;
  readonly actor: Actor;
  readonly reason: string;
  /** What the provider confirmed for the original (its succeeded adjustments). */
  readonly confirmed: readonly ConfirmedAdjustment[];
  readonly now: Date;
}

/**
 * The reversal record, `submitted` so the approval policy takes it from there. It keeps the
 * original's kind, account, ticket and details (so it reads as "the reversal of this change"),
 * and a snapshot of what the provider confirmed for the original, which its billing effects are
 * planned from. Its amount is the original's with the sign turned.
 */
export function buildReversal(input: ReversalInput): LifecycleRecord {
  const { original: o, now } = input;
  const at = now.toISOString();
  const snapshot: ReversalSnapshot = {
    record_id: o.id,
    original_state: o.state,
    adjustments: input.confirmed.map((c) => ({
      idempotency_key: c.idempotency_key,
      step: c.step,
      provider_ref: c.result.providerRef,
      effect: c.effect,
      money: c.result.money ?? [],
    })),
  };
  return {
    id: input.id,
    kind: o.kind,
    subtype: o.subtype,
    account_id: o.account_id,
    ticket_id: o.ticket_id,
    requested_by: input.actor.id,
    requester: o.requester,
    reason_code: 'reversal',
    reason_text: input.reason,
    effective: 'immediate',
    effective_at: at,
    state: 'submitted',
    version: 1,
    details: { ...o.details, reversal: snapshot },
    amount: o.kind === 'termination' || !o.amount ? null : { amount_minor: -o.amount.amount_minor, currency: o.amount.currency },
    risk_flags: [],
    problems: [],
    created_at: at,
    updated_at: at,
    reverses_record_id: o.id,
  };
}

/** The approval a reversal needs by default: the original's approvals plus one, from the same approvers. */
export function reversalApprovals(originalRequired: number, configured: number | undefined): number {
  return configured ?? Math.min(3, Math.max(0, originalRequired) + 1);
}
