import type { Actor } from '../records/actors';
import { parseDispute, parseResolution } from '../records/disputes';
import type { ResolutionOutcome } from '../records/disputes';
import type { LifecycleRecord } from '../records/kinds';
import type { AppDeps } from './deps';
import { fileReversalIn } from './reverse-record';
import { transitionIn } from './transition-record';
import type { TransitionOutcome } from './transition-record';

export interface DisputeRequest {
  readonly recordId: string;
  readonly actor: Actor;
  /** Untrusted: `{ reason, documents? }`, validated here. */
  readonly body: unknown;
  readonly expectedVersion?: number;
}

export interface ResolveRequest {
  readonly recordId: string;
  readonly actor: Actor;
  /** Untrusted: `{ reason, outcome }`, validated here. */
  readonly body: unknown;
  readonly expectedVersion?: number;
}

export interface ResolveOutcome extends TransitionOutcome {
  readonly outcome: ResolutionOutcome;
  /** The reversal filed for a `reversed` resolution. */
  readonly reversal: LifecycleRecord | null;
}

/**
 * Opens a dispute on an applied or confirmed record: one `record.dispute` audit event carrying
 * the reason and the document references (validated: Zendesk attachment ids or https URLs).
 */
export function disputeRecord(deps: Pick<AppDeps, 'store' | 'clock'>, req: DisputeRequest): Promise<TransitionOutcome> {
  const input = parseDispute(req.body);
  return deps.store.transaction((uow) =>
    transitionIn(uow, deps.clock.now(), {
      recordId: req.recordId,
      event: 'dispute',
      actor: req.actor,
      reason: input.reason,
      data: { documents: input.documents },
      ...(req.expectedVersion !== undefined ? { expectedVersion: req.expectedVersion } : {}),
    }),
  );
}

/**
 * Resolves a dispute: one `record.resolve` audit event with the outcome and reason, and the
 * customer's `resolved` email (queued by the transition). A `reversed` outcome files the reversal
 * record in the same transaction, so a resolution never says "reversed" without one existing.
 */
export async function resolveRecord(deps: Pick<AppDeps, 'store' | 'clock' | 'ids'>, req: ResolveRequest): Promise<ResolveOutcome> {
  const input = parseResolution(req.body);
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const current = await uow.records.getForUpdate(req.recordId);
    // Only a disputed record is resolved; anything else fails in the transition below, with nothing filed.
    const reversal = input.outcome === 'reversed' && current?.state === 'disputed' ? await fileReversalIn(uow, deps, now, current, req.actor, input.reason) : null;
    const out = await transitionIn(uow, now, {
      recordId: req.recordId,
      event: 'resolve',
      actor: req.actor,
      reason: input.reason,
      data: { outcome: input.outcome, ...(reversal ? { reversal_record_id: reversal.id } : {}) },
      ...(req.expectedVersion !== undefined ? { expectedVersion: req.expectedVersion } : {}),
    });
    return { ...out, outcome: input.outcome, reversal };
  });
}
