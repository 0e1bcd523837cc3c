import { AppError } from './errors';
import type { Actor, ActorRole } from './actors';
import type { LifecycleRecord, State } from './kinds';
import type { AuditEventDraft } from './audit';

/** Things that can happen to a record. Each allowed one is exactly one audit event. */
export const EVENTS = [
  'revise',
  'submit',
  'request_approval',
  'auto_approve',
  'approve',
  'reject',
  'schedule',
  'start_apply',
  'mark_applied',
  'fail',
  'retry',
  'confirm',
  'close',
  'cancel',
  'dispute',
  'resolve',
  'lower_amount',
  'offer_retention',
  'decline_offer',
] as const;
export type LifecycleEvent = (typeof EVENTS)[number];

export interface TransitionRule {
  readonly from: State;
  readonly event: LifecycleEvent;
  readonly to: State;
  readonly actors: readonly ActorRole[];
}

const rule = (from: State, event: LifecycleEvent, to: State, ...actors: ActorRole[]): TransitionRule => ({ from, event, to, actors });

/**
 * The lifecycle, as data (DESIGN.md section 2). Anything not listed is illegal.
 * `revise` keeps a draft a draft while the agent fills in what is missing.
 */
export const TRANSITIONS: readonly TransitionRule[] = [
  rule('draft', 'revise', 'draft', 'agent', 'system'),
  rule('draft', 'submit', 'submitted', 'agent', 'system'),
  rule('draft', 'cancel', 'cancelled', 'agent', 'supervisor', 'system'),
  rule('submitted', 'request_approval', 'pending_approval', 'system'),
  rule('submitted', 'auto_approve', 'approved', 'system'),
  // A request the policy holds for a retention offer waits, submitted, for the customer's answer:
  // declined, the policy runs again; accepted, the request is withdrawn.
  rule('submitted', 'offer_retention', 'submitted', 'system'),
  rule('submitted', 'decline_offer', 'submitted', 'agent', 'supervisor'),
  rule('submitted', 'cancel', 'cancelled', 'agent', 'supervisor'),
  rule('pending_approval', 'approve', 'approved', 'supervisor'),
  // Partial approval: an approver lowers a credit or fee (with a reason) as they approve.
  rule('pending_approval', 'lower_amount', 'pending_approval', 'supervisor'),
  rule('pending_approval', 'reject', 'rejected', 'supervisor'),
  rule('pending_approval', 'cancel', 'cancelled', 'agent', 'supervisor', 'customer'),
  rule('approved', 'schedule', 'scheduled', 'system'),
  rule('approved', 'start_apply', 'applying', 'system'),
  rule('scheduled', 'start_apply', 'applying', 'system'),
  // `system`: an approved reversal withdraws a scheduled termination before its instant.
  rule('scheduled', 'cancel', 'cancelled', 'agent', 'supervisor', 'customer', 'system'),
  rule('applying', 'mark_applied', 'applied', 'system'),
  rule('applying', 'fail', 'failed', 'system'),
  rule('failed', 'retry', 'applying', 'system', 'agent', 'supervisor'),
  rule('applied', 'confirm', 'confirmed', 'system'),
  rule('applied', 'dispute', 'disputed', 'customer', 'agent', 'supervisor'),
  rule('confirmed', 'dispute', 'disputed', 'customer', 'agent', 'supervisor'),
  rule('confirmed', 'close', 'closed', 'system', 'agent'),
  // Deciding a dispute may move money back (a reversal): supervisors decide it, as they decide approvals.
  rule('disputed', 'resolve', 'resolved', 'supervisor'),
];

const index = new Map<string, TransitionRule>(TRANSITIONS.map((r) => [`${r.from}:${r.event}`, r]));

export function findRule(from: State, event: LifecycleEvent): TransitionRule | undefined {
  return index.get(`${from}:${event}`);
}

/** Events that may happen from a state (for UIs and error messages). */
export function eventsFrom(state: State): LifecycleEvent[] {
  return TRANSITIONS.filter((r) => r.from === state).map((r) => r.event);
}

export const TERMINAL_STATES: readonly State[] = ['rejected', 'closed', 'cancelled', 'resolved'];

export interface TransitionContext {
  readonly actor: Actor;
  readonly now: Date;
  /** Free text shown in the trail (reject reason, failure cause…). */
  readonly reason?: string;
  /** Extra facts for the audit event (decision ids, provider references…). */
  readonly data?: Record<string, unknown>;
  /** Field changes that travel with the transition (e.g. revised details of a draft). */
  readonly patch?: Partial<Omit<LifecycleRecord, 'id' | 'state' | 'version' | 'created_at' | 'updated_at'>>;
}

export interface TransitionResult {
  readonly record: LifecycleRecord;
  readonly events: readonly AuditEventDraft[];
}

/**
 * Moves a record through one lifecycle event. Pure: returns the next record (version + 1) and the
 * audit event to append; the caller persists both in one transaction.
 */
export function transition(record: LifecycleRecord, event: LifecycleEvent, ctx: TransitionContext): TransitionResult {
  const r = findRule(record.state, event);
  if (!r) {
    const allowed = eventsFrom(record.state);
    throw new AppError(
      'illegal_transition',
      `Cannot ${event} a record that is ${record.state}` +
        (allowed.length ? ` (allowed from ${record.state}: ${allowed.join(', ')})` : ` (${record.state} is final)`),
      { details: { record_id: record.id, state: record.state, event } },
    );
  }
  if (!r.actors.includes(ctx.actor.role)) {
    throw new AppError('forbidden', `A ${ctx.actor.role} may not ${event} a record; allowed: ${r.actors.join(', ')}`, {
      details: { record_id: record.id, state: record.state, event, actor_role: ctx.actor.role },
    });
  }
  if (event === 'cancel' && record.state === 'scheduled' && record.effective_at && Date.parse(record.effective_at) <= ctx.now.getTime()) {
    // Its effective instant has passed: billing may already have acted (Stripe cancels or renews on its own clock).
    throw new AppError(
      'illegal_transition',
      `Cannot cancel record ${record.id}: it took effect at ${record.effective_at} and is being applied; once applied it can be disputed`,
      { details: { record_id: record.id, state: record.state, event, effective_at: record.effective_at } },
    );
  }
  const at = ctx.now.toISOString();
  const next: LifecycleRecord = { ...record, ...ctx.patch, state: r.to, version: record.version + 1, updated_at: at };
  const data: Record<string, unknown> = { from: record.state, to: r.to, version: next.version, ...ctx.data };
  if (ctx.reason !== undefined) data.reason = ctx.reason;
  if (ctx.patch) data.changed = Object.keys(ctx.patch).sort();
  return {
    record: next,
    // A revised draft may have been moved to the right account; its events follow it.
    events: [{ account_id: next.account_id, record_id: record.id, type: `record.${event}`, actor: ctx.actor, occurred_at: at, data }],
  };
}
