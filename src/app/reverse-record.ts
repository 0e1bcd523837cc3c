import { z } from 'zod';
import type { Actor } from '../records/actors';
import { AppError } from '../records/errors';
import type { LifecycleRecord } from '../records/kinds';
import type { UnitOfWork } from '../records/ports';
import { describeProblems, problemsFromZod } from '../records/problems';
import { buildReversal, reversalProblem } from '../records/reversals';
import { REASON_MAX } from '../records/disputes';
import type { AppDeps } from './deps';
import { followUpsOf } from './record-events';

const ReverseBody = z
  .object({
    reason: z
      .string({ error: 'reason is required' })
      .trim()
      .min(1, 'reason is required: say why the change is undone (the customer is told)')
      .max(REASON_MAX, `reason is too long (max ${REASON_MAX} characters)`),
  })
  .strict();

/**
 * Files the reversal of `original` inside the caller's transaction: the reversal record
 * (`submitted`, so the approval policy's reversal rule decides it), its `record.created` event,
 * a `record.reversal_filed` event on the original, and the policy job. The original's row is
 * locked first, so two requests cannot file two reversals (the database's unique index on live
 * reversals backs this up).
 */
export async function fileReversalIn(
  uow: UnitOfWork,
  deps: Pick<AppDeps, 'ids'>,
  now: Date,
  original: LifecycleRecord,
  actor: Actor,
  reason: string,
): Promise<LifecycleRecord> {
  const locked = (await uow.records.getForUpdate(original.id)) ?? original;
  const problem = reversalProblem(locked, now);
  if (problem) throw new AppError('illegal_transition', `Cannot reverse: ${problem}`, { details: { record_id: locked.id, state: locked.state } });
  const existing = await uow.records.liveReversalOf(locked.id);
  if (existing) {
    throw new AppError(
      'conflict',
      `Record ${locked.id} already has a reversal, ${existing.id} (${existing.state}); it must be rejected or cancelled before another is filed`,
      {
        details: { record_id: locked.id, reversal_record_id: existing.id },
      },
    );
  }
  const confirmed = await uow.billing.confirmed(locked.id);
  const reversal = buildReversal({ id: deps.ids.newId(), original: locked, actor, reason, confirmed, now });
  await uow.records.insert(reversal);
  await uow.audit.append([
    {
      account_id: reversal.account_id,
      record_id: reversal.id,
      type: 'record.created',
      actor,
      occurred_at: reversal.created_at,
      data: {
        state: reversal.state,
        kind: reversal.kind,
        subtype: reversal.subtype,
        ticket_id: reversal.ticket_id,
        effective: reversal.effective,
        amount: reversal.amount,
        reverses_record_id: locked.id,
        reason,
        details: reversal.details,
        problems: [],
      },
    },
    {
      account_id: locked.account_id,
      record_id: locked.id,
      type: 'record.reversal_filed',
      actor,
      occurred_at: reversal.created_at,
      data: { reversal_record_id: reversal.id, reason, state: locked.state },
    },
  ]);
  await uow.outbox.add(followUpsOf(reversal, null));
  return reversal;
}

/** `POST /api/records/:id/reverse`: files a reversal of a record for approval. */
export async function reverseRecord(
  deps: Pick<AppDeps, 'store' | 'clock' | 'ids'>,
  req: { recordId: string; actor: Actor; body: unknown },
): Promise<LifecycleRecord> {
  const parsed = ReverseBody.safeParse(req.body);
  if (!parsed.success) {
    const problems = problemsFromZod(parsed.error);
    throw new AppError('validation_failed', `Invalid reversal: ${describeProblems(problems)}`, { problems });
  }
  return deps.store.transaction(async (uow) => {
    const original = await uow.records.get(req.recordId);
    if (!original) throw new AppError('not_found', `No lifecycle record ${req.recordId}`);
    return fileReversalIn(uow, deps, deps.clock.now(), original, req.actor, parsed.data.reason);
  });
}
