import { AppError } from '../records/errors';
import type { BillingPreview, BillingProvider } from '../records/ports';
import { applyLocalIn } from './apply-record';
import type { ApplyOutcome } from './apply-record';
import { evaluatePolicyIn, previewAdjustmentIn, previewOf, providerPreview } from './evaluate-policy';
import type { PolicyDeps, PolicyOutcome } from './evaluate-policy';
import { followUpsOf } from './record-events';

export interface AdvanceDeps extends PolicyDeps {
  readonly billing: BillingProvider;
}

export interface AdvanceOutcome {
  readonly policy: PolicyOutcome['status'];
  /** What applying did, when the record was auto-approved and billing is local. */
  readonly applied: ApplyOutcome | null;
}

/**
 * Everything that happens to a submitted record without calling anything outside our database,
 * in one transaction on the locked record (the `record.advance` job): risk flags and the approval
 * policy; and when the policy auto-approves and billing is the built-in ledger, the ledger
 * posting, the account change and the move to `applied` (or `scheduled`). Every transition is
 * audited as it happens; only the state the record ends in queues follow-ups (the customer email,
 * one ticket sync), and the job's own outbox row is completed in the same transaction.
 *
 * With a remote billing provider, its preview is asked for first, outside any transaction, and the
 * auto-approval queues `billing.apply`: that call is a job of its own on the billing queue.
 */
export async function advanceRecord(deps: AdvanceDeps, recordId: string, opts: { outboxKey?: string } = {}): Promise<AdvanceOutcome> {
  const local = deps.billing.local === true;
  const remotePreview = local ? null : await providerPreview(deps, recordId);
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const record = await uow.records.getForUpdate(recordId);
    if (!record) throw new AppError('not_found', `No lifecycle record ${recordId}`, { retryable: false });
    let outcome: AdvanceOutcome = { policy: 'not_submitted', applied: null };
    if (record.state === 'submitted') {
      let preview: BillingPreview | null = remotePreview;
      if (local) {
        const adjustment = await previewAdjustmentIn(uow, deps, record);
        preview = adjustment ? await previewOf(deps.billing, adjustment) : null;
      }
      const policy = await evaluatePolicyIn(uow, deps, record, now, preview, { followUps: !local });
      outcome = { policy: policy.status, applied: null };
      if (local && policy.status === 'auto_approved') {
        const applied = await applyLocalIn(uow, deps, policy.record, now);
        // Not applied nor scheduled (cannot happen for an approved record, but never leave it without its next job).
        if (applied !== 'applied' && applied !== 'scheduled') await uow.outbox.add(followUpsOf(policy.record, 'submitted'));
        outcome = { policy: policy.status, applied };
      }
    }
    if (opts.outboxKey) await uow.outbox.complete([opts.outboxKey]);
    return outcome;
  });
}
