import type { Actor } from '../records/actors';
import { parseDispute, parseResolution } from '../records/disputes';
import type { ResolutionOutcome } from '../records/disputes';
import type { LifecycleRecord } from '../records/kinds';
import type { TransactionRunner } from '../records/ports';
import type { ApproverDirectory } from './decide-approval';
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
    const reversal =
      input.outcome === 'reversed' && current?.state === 'disputed' ? await fileReversalIn(uow, deps, now, current, req.actor, input.reason) : null;
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

/**
 * Whether a Slack user may dispute or resolve a record from its approval message: only the
 * supervisors who could approve it (listed, or in one of its approver groups). Fails closed: a
 * membership Slack would not tell us refuses. Returns why not, or null when they may.
 */
export async function slackSupervisorRefusal(
  deps: { store: TransactionRunner; directory: ApproverDirectory },
  recordId: string,
  userId: string,
): Promise<string | null> {
  const request = await deps.store.transaction((uow) => uow.approvals.get(recordId));
  if (!request) return 'This record was not approved in Slack, so its disputes are handled through the API or the Zendesk sidebar.';
  if (request.approvers.user_ids.includes(userId)) return null;
  const groups = request.approvers.user_groups.length ? await deps.directory.groupsOf(userId, request.approvers.user_groups) : [];
  if (groups === null)
    return 'Nothing was recorded: your user group membership could not be checked, so we cannot tell that you are a supervisor for this record. Try again in a minute.';
  return groups.length ? null : `Only the supervisors who approve these requests (policy rule "${request.rule}") can dispute or resolve them.`;
}
