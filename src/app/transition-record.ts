import { AppError } from '../records/errors';
import { transition } from '../records/state-machine';
import type { LifecycleEvent, TransitionContext } from '../records/state-machine';
import type { LifecycleRecord } from '../records/kinds';
import type { AuditEvent } from '../records/audit';
import type { OutboxMessage, UnitOfWork } from '../records/ports';
import type { AppDeps } from './deps';
import { followUpsOf } from './record-events';

export interface TransitionRequest extends Omit<TransitionContext, 'now'> {
  readonly recordId: string;
  readonly event: LifecycleEvent;
  /** The version the caller saw; a different stored version is a conflict and nothing changes. */
  readonly expectedVersion?: number;
  /** Extra outbox messages that must commit with this change. */
  readonly messages?: (record: LifecycleRecord) => readonly OutboxMessage[];
  /**
   * Queue the follow-ups of the new state (default true). A use-case that moves a record through
   * several states in one transaction turns them off for the states it passes through and queues
   * those of the state it ends in, so no job runs for a state the record has already left.
   */
  readonly followUps?: boolean;
  /**
   * Follow-up topics this change must not queue, because the caller does that part for many
   * records at once (an incident batch posts one approval request, not one per record).
   */
  readonly withoutFollowUps?: readonly string[];
}

export interface TransitionOutcome {
  readonly record: LifecycleRecord;
  readonly events: readonly AuditEvent[];
}

/** Applies one lifecycle event inside an existing unit of work (for use-cases that do more in the same transaction). */
export async function transitionIn(uow: UnitOfWork, now: Date, req: TransitionRequest): Promise<TransitionOutcome> {
  const current = await uow.records.get(req.recordId);
  if (!current) throw new AppError('not_found', `No lifecycle record ${req.recordId}`);
  if (req.expectedVersion !== undefined && req.expectedVersion !== current.version) {
    throw new AppError(
      'conflict',
      `Record ${current.id} is at version ${current.version} (${current.state}), not ${req.expectedVersion}; reload it and try again`,
      { details: { record_id: current.id, expected_version: req.expectedVersion, current_version: current.version } },
    );
  }
  const { record, events } = transition(current, req.event, { ...req, now });
  await uow.records.update(record, current.version);
  const appended = await uow.audit.append(events);
  const skip = req.withoutFollowUps ?? [];
  const followUps = req.followUps === false ? [] : followUpsOf(record, current.state).filter((m) => !skip.includes(m.topic));
  await uow.outbox.add([...followUps, ...(req.messages?.(record) ?? [])]);
  return { record, events: appended };
}

/** Moves a record through one lifecycle event: record, audit event and outbox row in one transaction. */
export function transitionRecord(deps: Pick<AppDeps, 'store' | 'clock'>, req: TransitionRequest): Promise<TransitionOutcome> {
  return deps.store.transaction((uow) => transitionIn(uow, deps.clock.now(), req));
}
