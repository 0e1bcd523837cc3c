import { AppError } from '../records/errors';
import { accountChangesFor, adjustmentDescription } from '../records/apply';
import { systemActor } from '../records/actors';
import type { Account } from '../records/accounts';
import { billingEffectsFor, bookAfter, implicitBook, legsFor, scheduledEffect } from '../records/billing';
import type { BillingPhase, PlannedEffect } from '../records/billing';
import type { LifecycleRecord } from '../records/kinds';
import { formatMoney } from '../records/money';
import type { BillingAdjustment, BillingProvider, BillingResult, StoredAdjustment, UnitOfWork } from '../records/ports';
import type { AppDeps } from './deps';
import { transitionIn } from './transition-record';
import { billingApplyMessage } from './record-events';
import { TOPICS } from './topics';

export interface ApplyDeps extends Pick<AppDeps, 'store' | 'clock' | 'catalog'> {
  readonly billing: BillingProvider;
}

export type ApplyOutcome = 'applied' | 'scheduled' | 'already_applied' | 'not_applicable';

/** The billing steps of a record; each has its own idempotency key `billing.<record>.<step>`. */
export type BillingStep = PlannedEffect['key'] | 'schedule' | 'unschedule' | 'unschedule-late';

const BILLER = systemActor('billing');

/** The adjustment for one planned effect of a record; its key is derived from the record and the step, never random. */
export function adjustmentFor(
  record: LifecycleRecord,
  account: Account,
  planned: Pick<PlannedEffect, 'effect'>,
  step: BillingStep,
  phase: BillingPhase,
): BillingAdjustment {
  return {
    idempotencyKey: `billing.${record.id}.${step}`,
    recordId: record.id,
    accountId: record.account_id,
    billingCustomerId: account.billing_customer_id,
    kind: record.kind,
    subtype: record.subtype,
    currency: account.currency,
    effect: planned.effect,
    phase,
    effectiveAt: record.effective_at,
    termEnd: account.term_end,
    description: adjustmentDescription(record),
  };
}

async function accountsOf(uow: UnitOfWork, record: LifecycleRecord): Promise<{ account: Account; mergeTarget: Account | null }> {
  const account = await uow.accounts.get(record.account_id);
  if (!account) throw new AppError('not_found', `Account ${record.account_id} of record ${record.id} no longer exists`, { retryable: false });
  const targetId = record.subtype === 'merge' ? (record.details.merge as { target_account_id?: string } | undefined)?.target_account_id : undefined;
  const mergeTarget = targetId ? await uow.accounts.get(targetId) : null;
  return { account, mergeTarget };
}

/** The effects of a record for its account, as planned from the domain. */
async function planFor(uow: UnitOfWork, deps: Pick<ApplyDeps, 'catalog'>, record: LifecycleRecord) {
  const { account, mergeTarget } = await accountsOf(uow, record);
  return { account, effects: billingEffectsFor(record, account, deps.catalog, mergeTarget) };
}

/** Calls the provider unless the stored adjustment already succeeded; a failure is counted on the adjustment and rethrown. */
async function callOnce(
  deps: Pick<ApplyDeps, 'store'>,
  adjustment: BillingAdjustment,
  stored: StoredAdjustment,
  call: (a: BillingAdjustment) => Promise<BillingResult>,
): Promise<BillingResult> {
  if (stored.status === 'succeeded' && stored.result) return stored.result;
  try {
    return await call(adjustment);
  } catch (err) {
    const e = asProviderError(err);
    await deps.store.transaction((uow) => uow.billing.markAttempt(adjustment.idempotencyKey, e.message, !e.retryable));
    throw e;
  }
}

const asProviderError = (err: unknown): AppError =>
  err instanceof AppError ? err : new AppError('provider_failed', (err as Error).message, { cause: err, retryable: true });

/**
 * Records, once, what the provider confirmed for an adjustment: the adjustment marked succeeded
 * with its result, the confirmed money posted to the ledger under the same key, and the billing
 * book moved to what the provider reported. One transaction, so none of it exists without the rest.
 */
async function recordConfirmed(uow: UnitOfWork, now: Date, adj: BillingAdjustment, result: BillingResult): Promise<boolean> {
  if (!(await uow.billing.markSucceeded(adj.idempotencyKey, result))) return false;
  const legs = legsFor(adj.accountId, result.money ?? []);
  if (legs.length) await uow.ledger.post({ key: adj.idempotencyKey, recordId: adj.recordId, accountId: adj.accountId, description: adj.description, legs });
  const e = adj.effect;
  if (e.type === 'plan_change' || e.type === 'cancel' || e.type === 'pause' || e.type === 'resume' || e.type === 'merge') {
    const book = await uow.billingBook.getForUpdate(adj.accountId);
    const base = book ?? implicitBook((await uow.accounts.get(adj.accountId))!);
    const next = bookAfter(base, e, adj.phase, result.subscription, now);
    if (!book || JSON.stringify(next) !== JSON.stringify(book)) await uow.billingBook.save(next, adj.recordId);
  }
  return true;
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

/** A short, PII-free line for the team about an effect (used in alerts). */
function effectLabel(planned: PlannedEffect): string {
  const e = planned.effect;
  const money = 'amount' in e ? ` of ${formatMoney(e.amount)}` : '';
  return `${e.type === 'fee' ? 'the early-termination fee' : e.type === 'refund' ? 'the refund' : `the ${e.type.replace('_', ' ')}`}${money}`;
}

/**
 * Applies an approved record to billing, exactly once in effect:
 *  1. one transaction moves it to `applying` (or `scheduled`, if it takes effect later) and
 *     stores one adjustment per effect (the change, and a termination's fee and refund), each
 *     with its own idempotency key;
 *  2. the provider is called per effect with that key (a retry after a crash sends the same key,
 *     and an adjustment already marked succeeded is never sent again); each confirmation is
 *     recorded at once with its ledger postings and book change;
 *  3. one transaction moves the record to `applied`, updates the account(s) and queues the
 *     customer email, which states only what the provider confirmed.
 * A fee or refund the provider refuses for good is recorded as failed, audited and put before the
 * team in Slack; the change itself stands and the email says nothing about that money. A record
 * that takes effect later is `scheduled` instead; a provider with `scheduleAdjustment` is told
 * first, through the same steps under the record's `schedule` key.
 */
export async function applyRecord(deps: ApplyDeps, recordId: string, opts: { outboxKey?: string } = {}): Promise<ApplyOutcome> {
  if (deps.billing.local) {
    // Nothing to call outside the database: the whole apply is one transaction, and the job's
    // outbox row completes in it.
    return deps.store.transaction(async (uow) => {
      const record = await uow.records.getForUpdate(recordId);
      if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
      const outcome = await applyLocalIn(uow, deps, record, deps.clock.now());
      if (opts.outboxKey) await uow.outbox.complete([opts.outboxKey]);
      return outcome;
    });
  }
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
      const { account, effects } = await planFor(uow, deps, record);
      const effect = scheduledEffect(effects);
      if (!effect) return scheduleIn(uow, now, record);
      const adjustment = adjustmentFor(record, account, { effect }, 'schedule', 'schedule');
      const stored = await uow.billing.ensure(adjustment, deps.billing.name, 'schedule');
      if (stored.status === 'succeeded') return scheduleIn(uow, now, record);
      return { step: 'schedule' as const, record, adjustment, stored };
    }
    if (record.state !== 'applying') {
      record = (await transitionIn(uow, now, { recordId, event: 'start_apply', actor: BILLER, expectedVersion: record.version })).record;
    }
    const { account, effects } = await planFor(uow, deps, record);
    const steps: { planned: PlannedEffect; adjustment: BillingAdjustment; stored: StoredAdjustment }[] = [];
    for (const planned of effects) {
      const adjustment = adjustmentFor(record, account, planned, planned.key, 'apply');
      steps.push({ planned, adjustment, stored: await uow.billing.ensure(adjustment, deps.billing.name, planned.key) });
    }
    return { step: 'apply' as const, record, steps };
  });
  if (typeof prepared === 'string') return prepared;

  if (prepared.step === 'schedule') {
    const result = await callOnce(deps, prepared.adjustment, prepared.stored, (a) => deps.billing.scheduleAdjustment!(a));
    return deps.store.transaction(async (uow) => {
      await recordConfirmed(uow, deps.clock.now(), prepared.adjustment, result);
      const record = await uow.records.getForUpdate(recordId);
      if (record?.state === 'cancelled') {
        // Cancelled while the provider was being told: the unschedule that ran meanwhile may have
        // come too early, so undo once more now that the schedule has landed.
        await uow.outbox.add([{ topic: TOPICS.billingUnschedule, key: `billing-unschedule.${recordId}.late`, payload: { record_id: recordId, late: true } }]);
        return 'not_applicable';
      }
      if (!record || !['approved', 'scheduled', 'applying'].includes(record.state)) return 'not_applicable';
      return scheduleIn(uow, deps.clock.now(), record, {
        provider: deps.billing.name,
        provider_ref: result.providerRef,
        idempotency_key: prepared.adjustment.idempotencyKey,
      });
    });
  }

  for (const { planned, adjustment, stored } of prepared.steps) {
    if (stored.status === 'succeeded') continue;
    if (stored.status === 'failed' && planned.secondary) continue;
    let result: BillingResult;
    try {
      result = await deps.billing.applyAdjustment(adjustment);
    } catch (err) {
      const e = asProviderError(err);
      if (planned.secondary && !e.retryable) {
        await giveUpOn(deps, prepared.record, planned, adjustment, e);
        continue;
      }
      await deps.store.transaction((uow) => uow.billing.markAttempt(adjustment.idempotencyKey, e.message, !e.retryable));
      throw e;
    }
    await deps.store.transaction((uow) => recordConfirmed(uow, deps.clock.now(), adjustment, result));
  }

  await deps.store.transaction((uow) => markAppliedIn(uow, deps, recordId, deps.clock.now()));
  return 'applied';
}

/**
 * Applies a record with a local provider (the ledger) in the caller's transaction, on a record the
 * caller has locked: `applying`, each effect confirmed and posted under its idempotency key, the
 * account changed, `applied` — or `scheduled` when it takes effect later. Only the final state
 * queues follow-ups. A failure rolls all of it back; the job is retried.
 */
export async function applyLocalIn(uow: UnitOfWork, deps: ApplyDeps, locked: LifecycleRecord, now: Date): Promise<ApplyOutcome> {
  let record = locked;
  if (['applied', 'confirmed', 'closed', 'disputed', 'resolved'].includes(record.state)) return 'already_applied';
  if (!['approved', 'scheduled', 'applying'].includes(record.state)) return 'not_applicable';
  const due = !record.effective_at || Date.parse(record.effective_at) <= now.getTime();
  if (!due) return scheduleIn(uow, now, record);
  if (record.state !== 'applying') {
    record = (await transitionIn(uow, now, { recordId: record.id, event: 'start_apply', actor: BILLER, expectedVersion: record.version, followUps: false }))
      .record;
  }
  const { account, effects } = await planFor(uow, deps, record);
  for (const planned of effects) {
    const adjustment = adjustmentFor(record, account, planned, planned.key, 'apply');
    const stored = await uow.billing.ensure(adjustment, deps.billing.name, planned.key);
    if (stored.status === 'succeeded') continue;
    if (stored.status === 'failed' && planned.secondary) continue;
    await recordConfirmed(uow, now, adjustment, await deps.billing.applyAdjustment(adjustment));
  }
  await markAppliedIn(uow, deps, record.id, now);
  return 'applied';
}

/**
 * The last step of applying a record, in the caller's transaction: the account(s) changed, the
 * record moved to `applied` with what the provider confirmed. Nothing when the record is not
 * `applying` (a repeated job). With `followUps: false` the move queues nothing (the caller queues
 * what the record's final state needs).
 */
async function markAppliedIn(
  uow: UnitOfWork,
  deps: Pick<ApplyDeps, 'catalog' | 'billing'>,
  recordId: string,
  now: Date,
  opts: { followUps?: boolean } = {},
): Promise<LifecycleRecord | null> {
  const record = await uow.records.getForUpdate(recordId);
  if (!record || record.state !== 'applying') return null;
  // Lock the account(s) in id order: records of one account are applied one after another.
  const d = record.details as { merge?: { target_account_id: string } };
  const targetId = record.subtype === 'merge' && d.merge ? d.merge.target_account_id : null;
  const lockOrder = [record.account_id, ...(targetId ? [targetId] : [])].sort();
  if (targetId) await uow.audit.lockHeads(lockOrder);
  const locked = new Map<string, Account | null>();
  for (const id of lockOrder) locked.set(id, await uow.accounts.getForUpdate(id));
  const account = locked.get(record.account_id);
  if (!account) throw new AppError('not_found', `Account ${record.account_id} of record ${record.id} no longer exists`, { retryable: false });
  if (record.reverses_record_id && record.kind === 'termination') await withdrawTermination(uow, now, record);
  const changes = accountChangesFor(record, account, deps.catalog, targetId ? (locked.get(targetId) ?? null) : null);
  if (changes.account !== account) await uow.accounts.update(changes.account);
  if (changes.mergeTarget) await uow.accounts.update(changes.mergeTarget);
  const confirmed = await uow.billing.confirmed(recordId);
  const effects = confirmed.map((c) => ({
    idempotency_key: c.idempotency_key,
    type: c.effect.type,
    provider_ref: c.result.providerRef,
    money: c.result.money ?? [],
  }));
  const main = confirmed.find((c) => c.step === 'apply');
  if (targetId && changes.mergeTarget) {
    // The target's own chain records what it received, so neither account's history is silent.
    const moved = main?.result.money?.find((m) => m.type === 'transfer')?.amount ?? null;
    await uow.audit.append([
      {
        account_id: targetId,
        record_id: record.id,
        type: 'account.merged_in',
        actor: BILLER,
        occurred_at: now.toISOString(),
        data: { source_account_id: record.account_id, balance_moved: moved, provider: deps.billing.name, provider_ref: main?.result.providerRef ?? null },
      },
    ]);
  }
  const { record: applied } = await transitionIn(uow, now, {
    recordId,
    event: 'mark_applied',
    followUps: opts.followUps ?? true,
    actor: BILLER,
    expectedVersion: record.version,
    data: {
      provider: deps.billing.name,
      provider_ref: main?.result.providerRef ?? 'none',
      idempotency_key: main?.idempotency_key ?? `billing.${record.id}.apply`,
      ...(effects.length ? { effects } : {}),
      // The revenue report reads what the change did to the account's MRR from here.
      mrr: { before: account.mrr_minor, after: changes.account.mrr_minor, currency: account.currency },
    },
  });
  return applied;
}

/**
 * An approved reversal of a termination withdraws it: the original, still scheduled and before its
 * instant, is cancelled in this transaction (its cancellation queues the undoing of what the
 * provider was told in advance). Once the termination has taken effect there is nothing to
 * withdraw: a final failure, and the team is told to file a reactivation instead.
 */
async function withdrawTermination(uow: UnitOfWork, now: Date, reversal: LifecycleRecord): Promise<void> {
  const original = await uow.records.getForUpdate(reversal.reverses_record_id!);
  if (original?.state === 'cancelled') return;
  if (!original || original.state !== 'scheduled' || (original.effective_at && Date.parse(original.effective_at) <= now.getTime())) {
    throw new AppError(
      'illegal_transition',
      `Reversal ${reversal.id} cannot withdraw termination ${reversal.reverses_record_id}: it is ${original?.state ?? 'gone'}${original?.effective_at ? ` (its instant was ${original.effective_at})` : ''}; file a reactivation instead`,
      { retryable: false },
    );
  }
  await transitionIn(uow, now, {
    recordId: original.id,
    event: 'cancel',
    actor: systemActor('reversal'),
    expectedVersion: original.version,
    reason: `withdrawn by reversal ${reversal.id}`,
    data: { reversal_record_id: reversal.id },
  });
}

/**
 * A fee or refund the provider refused for good: recorded as failed (so a retry leaves it alone
 * and the email never mentions it), audited, and put before the team in Slack to settle by hand.
 */
async function giveUpOn(
  deps: Pick<ApplyDeps, 'store' | 'clock' | 'billing'>,
  record: LifecycleRecord,
  planned: PlannedEffect,
  adj: BillingAdjustment,
  e: AppError,
): Promise<void> {
  await deps.store.transaction(async (uow) => {
    await uow.billing.markAttempt(adj.idempotencyKey, e.message, true);
    await uow.audit.append([
      {
        account_id: record.account_id,
        record_id: record.id,
        type: 'billing.effect_failed',
        actor: BILLER,
        occurred_at: deps.clock.now().toISOString(),
        data: { provider: deps.billing.name, idempotency_key: adj.idempotencyKey, effect: planned.effect.type, error: e.message.slice(0, 1000) },
      },
    ]);
    await uow.outbox.add([
      {
        topic: TOPICS.slackAlert,
        key: `alert.${record.id}.${planned.key}`,
        payload: {
          record_id: record.id,
          reason: `${effectLabel(planned)} was refused by the billing provider and was not made; the customer is not told of it. Settle it by hand`,
        },
      },
    ]);
  });
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
    const { account, effects } = await planFor(uow, deps, record);
    const effect = scheduledEffect(effects);
    if (!effect) return 'nothing_scheduled' as const;
    const adjustment = adjustmentFor(record, account, { effect }, step, 'unschedule');
    const stored = await uow.billing.ensure(adjustment, deps.billing.name, step);
    return { record, adjustment, stored };
  });
  if (typeof prepared === 'string') return prepared;
  if (prepared.stored.status === 'succeeded') return 'unscheduled';
  const result = await callOnce(deps, prepared.adjustment, prepared.stored, (a) => deps.billing.unscheduleAdjustment!(a));
  await deps.store.transaction(async (uow) => {
    // Audited once, by whichever run records it first.
    if (!(await recordConfirmed(uow, deps.clock.now(), prepared.adjustment, result))) return;
    await uow.audit.append([
      {
        account_id: prepared.record.account_id,
        record_id: prepared.record.id,
        type: 'billing.unscheduled',
        actor: BILLER,
        occurred_at: deps.clock.now().toISOString(),
        data: { provider: deps.billing.name, provider_ref: result.providerRef, idempotency_key: prepared.adjustment.idempotencyKey },
      },
    ]);
  });
  return 'unscheduled';
}

/** `lifecycle-desk records retry ID`: a failed record goes back to applying with a fresh job. */
export async function retryRecord(
  deps: Pick<AppDeps, 'store' | 'clock'>,
  recordId: string,
  actor: { role: 'agent' | 'supervisor' | 'system'; id: string },
): Promise<LifecycleRecord> {
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
