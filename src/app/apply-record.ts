import { AppError } from '../records/errors';
import { accountChangesFor, adjustmentDescription } from '../records/apply';
import { systemActor } from '../records/actors';
import type { LifecycleRecord } from '../records/kinds';
import type { BillingAdjustment, BillingProvider, BillingResult, StoredAdjustment, UnitOfWork } from '../records/ports';
import type { AppDeps } from './deps';
import { transitionIn } from './transition-record';
import { billingApplyMessage } from './record-events';
import { TOPICS } from './topics';

export interface ApplyDeps extends Pick<AppDeps, 'store' | 'clock' | 'catalog'> {
  readonly billing: BillingProvider;
}

export type ApplyOutcome = 'applied' | 'scheduled' | 'already_applied' | 'not_applicable';

/** The billing steps of a record; each has its own idempotency key. */
export type BillingStep = 'apply' | 'schedule' | 'unschedule' | 'unschedule-late';

const BILLER = systemActor('billing');

/** The adjustment for a record; its key is derived from the record and the step, never random. */
export function adjustmentFor(record: LifecycleRecord, billingCustomerId: string | null, step: BillingStep = 'apply'): BillingAdjustment {
  const d = record.details as Record<string, unknown>;
  return {
    idempotencyKey: `billing.${record.id}.${step}`,
    recordId: record.id,
    accountId: record.account_id,
    billingCustomerId,
    kind: record.kind,
    subtype: record.subtype,
    amount: record.amount,
    toPlan: typeof d.to_plan === 'string' ? d.to_plan : null,
    fromPlan: typeof d.from_plan === 'string' ? d.from_plan : null,
    cancelAtPeriodEnd: record.kind === 'termination' || (record.kind === 'status_change' && record.subtype === 'closure'),
    effectiveAt: record.effective_at,
    description: adjustmentDescription(record),
  };
}

async function accountOf(uow: UnitOfWork, record: LifecycleRecord) {
  const account = await uow.accounts.get(record.account_id);
  if (!account) throw new AppError('not_found', `Account ${record.account_id} of record ${record.id} no longer exists`, { retryable: false });
  return account;
}

/** Calls the provider unless the stored adjustment already succeeded; a failure is counted on the adjustment and rethrown. */
async function callOnce(
  deps: Pick<ApplyDeps, 'store'>,
  adjustment: BillingAdjustment,
  stored: StoredAdjustment,
  call: (a: BillingAdjustment) => Promise<BillingResult>,
): Promise<string> {
  if (stored.status === 'succeeded' && stored.provider_ref) return stored.provider_ref;
  try {
    return (await call(adjustment)).providerRef;
  } catch (err) {
    const e = err instanceof AppError ? err : new AppError('provider_failed', (err as Error).message, { cause: err, retryable: true });
    await deps.store.transaction((uow) => uow.billing.markAttempt(adjustment.idempotencyKey, e.message, !e.retryable));
    throw e;
  }
}

/** An approved record that takes effect later becomes `scheduled`, with a job at the effective instant; a job that came early is queued again for then. */
async function scheduleIn(uow: UnitOfWork, now: Date, record: LifecycleRecord, data: Record<string, unknown> = {}): Promise<'scheduled'> {
  if (record.state === 'approved') {
    await transitionIn(uow, now, {
      recordId: record.id,
      event: 'schedule',
      actor: BILLER,
      expectedVersion: record.version,
      data: { effective_at: record.effective_at, ...data },
      messages: (r) => [billingApplyMessage(r, 0, r.effective_at!)],
    });
  } else {
    await uow.outbox.add([billingApplyMessage(record, 0, record.effective_at!)]);
  }
  return 'scheduled';
}

/**
 * Applies an approved record to billing, exactly once in effect:
 *  1. one transaction moves it to `applying` (or `scheduled`, if it takes effect later) and
 *     stores the adjustment with its idempotency key;
 *  2. the provider is called with that key (a retry after a crash sends the same key, and an
 *     adjustment already marked succeeded is never sent again);
 *  3. one transaction marks the adjustment succeeded, moves the record to `applied`, updates the
 *     account and queues the customer email.
 * A record that takes effect later is `scheduled` instead; a provider with `scheduleAdjustment`
 * is told first, through the same three steps under the record's `schedule` key.
 */
export async function applyRecord(deps: ApplyDeps, recordId: string): Promise<ApplyOutcome> {
  const prepared = await deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    let record = await uow.records.get(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
    if (['applied', 'confirmed', 'closed', 'disputed', 'resolved'].includes(record.state)) return 'already_applied' as const;
    if (!['approved', 'scheduled', 'applying'].includes(record.state)) return 'not_applicable' as const;
    const due = !record.effective_at || Date.parse(record.effective_at) <= now.getTime();
    if (!due) {
      if (!deps.billing.scheduleAdjustment) return scheduleIn(uow, now, record);
      // The provider bills on its own clock: tell it now, then wait for the effective instant.
      const account = await accountOf(uow, record);
      const adjustment = adjustmentFor(record, account.billing_customer_id, 'schedule');
      const stored = await uow.billing.ensure(adjustment, deps.billing.name, 'schedule');
      if (stored.status === 'succeeded') return scheduleIn(uow, now, record);
      return { step: 'schedule' as const, record, adjustment, stored };
    }
    if (record.state !== 'applying') {
      record = (await transitionIn(uow, now, { recordId, event: 'start_apply', actor: BILLER, expectedVersion: record.version })).record;
    }
    const account = await accountOf(uow, record);
    const adjustment = adjustmentFor(record, account.billing_customer_id);
    const stored = await uow.billing.ensure(adjustment, deps.billing.name, 'apply');
    return { step: 'apply' as const, record, adjustment, stored };
  });
  if (typeof prepared === 'string') return prepared;

  if (prepared.step === 'schedule') {
    const ref = await callOnce(deps, prepared.adjustment, prepared.stored, (a) => deps.billing.scheduleAdjustment!(a));
    return deps.store.transaction(async (uow) => {
      await uow.billing.markSucceeded(prepared.adjustment.idempotencyKey, ref);
      const record = await uow.records.getForUpdate(recordId);
      if (record?.state === 'cancelled') {
        // Cancelled while Stripe was being told: the unschedule that ran meanwhile may have come
        // too early, so undo once more now that the schedule has landed.
        await uow.outbox.add([{ topic: TOPICS.billingUnschedule, key: `billing-unschedule.${recordId}.late`, payload: { record_id: recordId, late: true } }]);
        return 'not_applicable';
      }
      if (!record || !['approved', 'scheduled', 'applying'].includes(record.state)) return 'not_applicable';
      return scheduleIn(uow, deps.clock.now(), record, { provider: deps.billing.name, provider_ref: ref, idempotency_key: prepared.adjustment.idempotencyKey });
    });
  }

  const providerRef = await callOnce(deps, prepared.adjustment, prepared.stored, (a) => deps.billing.applyAdjustment(a));

  await deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    await uow.billing.markSucceeded(prepared.adjustment.idempotencyKey, providerRef);
    const record = await uow.records.getForUpdate(recordId);
    if (!record || record.state !== 'applying') return;
    // Lock the account(s) in id order: records of one account are applied one after another.
    const d = record.details as { merge?: { target_account_id: string } };
    const targetId = record.subtype === 'merge' && d.merge ? d.merge.target_account_id : null;
    const lockOrder = [record.account_id, ...(targetId ? [targetId] : [])].sort();
    const locked = new Map<string, Awaited<ReturnType<typeof uow.accounts.getForUpdate>>>();
    for (const id of lockOrder) locked.set(id, await uow.accounts.getForUpdate(id));
    const account = locked.get(record.account_id);
    if (!account) throw new AppError('not_found', `Account ${record.account_id} of record ${record.id} no longer exists`, { retryable: false });
    const changes = accountChangesFor(record, account, deps.catalog, targetId ? (locked.get(targetId) ?? null) : null);
    if (changes.account !== account) await uow.accounts.update(changes.account);
    if (changes.mergeTarget) await uow.accounts.update(changes.mergeTarget);
    await transitionIn(uow, now, {
      recordId,
      event: 'mark_applied',
      actor: BILLER,
      expectedVersion: record.version,
      data: { provider: deps.billing.name, provider_ref: providerRef, idempotency_key: prepared.adjustment.idempotencyKey },
    });
  });
  return 'applied';
}

/**
 * Gives up on a record whose billing job will not be retried any more: `failed`, audited, team
 * alerted. A record still `approved` (its provider refused to schedule it) passes through
 * `applying`, the only state the lifecycle fails from.
 */
export async function failRecord(deps: Pick<AppDeps, 'store' | 'clock'>, recordId: string, reason: string): Promise<void> {
  await deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    let record = await uow.records.get(recordId);
    if (record?.state === 'approved') {
      record = (await transitionIn(uow, now, { recordId, event: 'start_apply', actor: BILLER, expectedVersion: record.version })).record;
    }
    if (!record || record.state !== 'applying') return;
    await transitionIn(uow, now, { recordId, event: 'fail', actor: BILLER, expectedVersion: record.version, reason: reason.slice(0, 1000) });
  });
}

export type UnscheduleOutcome = 'unscheduled' | 'nothing_scheduled' | 'not_applicable';

/**
 * A scheduled record was cancelled: undo what its provider was told when it was scheduled (for
 * Stripe, the pending cancellation or plan change), once, under the record's `unschedule` key,
 * with an audit event. Nothing to do when the provider was never told.
 */
export async function unscheduleRecord(deps: ApplyDeps, recordId: string, opts: { late?: boolean } = {}): Promise<UnscheduleOutcome> {
  const step: BillingStep = opts.late ? 'unschedule-late' : 'unschedule';
  const prepared = await deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    if (!record || record.state !== 'cancelled') return 'not_applicable' as const;
    const scheduled = await uow.billing.get(`billing.${record.id}.schedule`);
    // 'pending' means the outcome of telling the provider is unknown (a crash, or a call still in
    // flight): undo all the same, which touches only what the schedule would have set.
    if (!scheduled || scheduled.status === 'failed' || !deps.billing.unscheduleAdjustment) return 'nothing_scheduled' as const;
    const account = await accountOf(uow, record);
    const adjustment = adjustmentFor(record, account.billing_customer_id, step);
    const stored = await uow.billing.ensure(adjustment, deps.billing.name, step);
    return { record, adjustment, stored };
  });
  if (typeof prepared === 'string') return prepared;
  if (prepared.stored.status === 'succeeded') return 'unscheduled';
  const ref = await callOnce(deps, prepared.adjustment, prepared.stored, (a) => deps.billing.unscheduleAdjustment!(a));
  await deps.store.transaction(async (uow) => {
    // Audited once, by whichever run marks it first.
    if (!(await uow.billing.markSucceeded(prepared.adjustment.idempotencyKey, ref))) return;
    await uow.audit.append([
      {
        account_id: prepared.record.account_id,
        record_id: prepared.record.id,
        type: 'billing.unscheduled',
        actor: BILLER,
        occurred_at: deps.clock.now().toISOString(),
        data: { provider: deps.billing.name, provider_ref: ref, idempotency_key: prepared.adjustment.idempotencyKey },
      },
    ]);
  });
  return 'unscheduled';
}

/** `lifecycle-desk records retry ID`: a failed record goes back to applying with a fresh job. */
export async function retryRecord(deps: Pick<AppDeps, 'store' | 'clock'>, recordId: string, actor: { role: 'agent' | 'supervisor' | 'system'; id: string }): Promise<LifecycleRecord> {
  return deps.store.transaction(async (uow) => {
    const record = await uow.records.get(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`);
    if (record.state !== 'failed') throw new AppError('illegal_transition', `Record ${recordId} is ${record.state}; only failed records can be retried`);
    const out = await transitionIn(uow, deps.clock.now(), {
      recordId,
      event: 'retry',
      actor,
      expectedVersion: record.version,
      messages: (r) => [billingApplyMessage(r, r.version)],
    });
    return out.record;
  });
}
