import type { Actor } from '../records/actors';
import { AppError } from '../records/errors';
import { parseDispute, parseResolution } from '../records/disputes';
import type { ResolutionOutcome } from '../records/disputes';
import type { LifecycleRecord } from '../records/kinds';
import type { UnitOfWork } from '../records/ports';
import type { AppDeps } from './deps';
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
 * Files a reversal of `original` inside the resolution's transaction. Injected so this module does
 * not depend on how reversals are built (see `reverse-record.ts`).
 */
export type ReversalFiler = (uow: UnitOfWork, now: Date, original: LifecycleRecord, actor: Actor, reason: string) => Promise<LifecycleRecord>;

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
export async function resolveRecord(deps: Pick<AppDeps, 'store' | 'clock'> & { fileReversal?: ReversalFiler }, req: ResolveRequest): Promise<ResolveOutcome> {
  const input = parseResolution(req.body);
  const fileReversal = deps.fileReversal;
  if (input.outcome === 'reversed' && !fileReversal) {
    throw new AppError('validation_failed', 'This service cannot file reversals, so a dispute cannot be resolved as reversed here', { problems: [{ field: 'outcome', message: 'reversed is not available' }] });
  }
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const current = await uow.records.getForUpdate(req.recordId);
    const reversal = input.outcome === 'reversed' && current?.state === 'disputed' && fileReversal ? await fileReversal(uow, now, current, req.actor, input.reason) : null;
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
