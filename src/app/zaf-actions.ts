import { can, actorRoleFor } from '../records/access';
import type { Action } from '../records/access';
import type { Caller } from './zaf-session';
import type { Actor } from '../records/actors';
import { AppError } from '../records/errors';
import type { Problem } from '../records/errors';
import type { Policy } from '../records/policy';
import type { LifecycleRecord } from '../records/kinds';
import { TERMINAL_STATES } from '../records/state-machine';
import type { AppDeps } from './deps';
import { UNASSIGNED_ACCOUNT, accountIdOf, evaluateRequest, recordFromEvaluation, revisionPatch } from './create-record';
import { assertMatchesQuote, createQuotedRecordIn, previewRecord, quotedInstant } from './preview-record';
import type { PreviewOutcome, QuoteSigner } from './preview-record';
import { retryRecord } from './apply-record';
import { transitionIn, transitionRecord } from './transition-record';
import { disputeRecord, resolveRecord } from './dispute-record';
import { recordRetentionAnswer } from './retention-offers';
import type { RetentionAnswerOutcome } from './retention-offers';

/**
 * What an agent does from the Zendesk sidebar. The caller is who the verified token names, with the
 * role the service looked up for them; every action is checked against the access table
 * (`records/access.ts`) before anything else, and a refusal is itself written to the audit trail.
 */

export interface ZafDeps extends AppDeps {
  readonly quotes: QuoteSigner;
  /** The approval policy, so a preview can say whether filing needs approval and why. */
  readonly policy?: Policy;
}

/** The actor recorded for a caller taking an action: their email (as tickets' requested_by), their name, their role. */
export const actorOf = (caller: Caller, action: Action): Actor => ({
  role: actorRoleFor(caller.role, action),
  id: caller.email,
  ...(caller.name ? { name: caller.name } : {}),
});

/**
 * Refuses an action the caller's role may not take: writes `access.denied` to the account's audit
 * chain (so a hand-made call is on record) and throws 403.
 */
export async function assertAllowed(
  deps: Pick<AppDeps, 'store' | 'clock'>,
  caller: Caller,
  action: Action,
  target: { recordId: string | null; accountId: string },
): Promise<void> {
  if (can(caller.role, action)) return;
  const now = deps.clock.now();
  await deps.store.transaction((uow) =>
    uow.audit.append([
      {
        account_id: target.accountId,
        record_id: target.recordId,
        type: 'access.denied',
        actor: actorOf(caller, 'view_record'),
        occurred_at: now.toISOString(),
        data: { action, role: caller.role, via: 'zendesk_app', zendesk_user_id: caller.zendeskUserId },
      },
    ]),
  );
  throw new AppError('forbidden', `Your role (${caller.role}) may not ${action.replace(/_/g, ' ')}; ask a supervisor`, {
    details: { action, role: caller.role },
  });
}

/** A ticket's request as the sidebar sends it: the agent is the caller, whatever the body says. */
export const asCallersRequest = (request: unknown, caller: Caller, ticketId: string | null): Record<string, unknown> => {
  const r = request && typeof request === 'object' && !Array.isArray(request) ? (request as Record<string, unknown>) : {};
  return { ...r, requested_by: caller.email, ...(ticketId ? { ticket_id: ticketId } : {}) };
};

async function recordOrThrow(deps: Pick<AppDeps, 'store'>, recordId: string): Promise<LifecycleRecord> {
  const r = await deps.store.transaction((uow) => uow.records.get(recordId));
  if (!r) throw new AppError('not_found', `No lifecycle record ${recordId}`);
  return r;
}

export async function zafPreview(
  deps: ZafDeps,
  caller: Caller,
  input: { request: unknown; ticketId: string | null; extraProblems?: readonly Problem[] },
): Promise<PreviewOutcome> {
  const request = asCallersRequest(input.request, caller, input.ticketId);
  await assertAllowed(deps, caller, 'preview_request', { recordId: null, accountId: accountIdOf(request) });
  return previewRecord(
    deps,
    {
      request,
      actor: actorOf(caller, 'file_request'),
      ...(input.extraProblems ? { extraProblems: input.extraProblems } : {}),
      ...(deps.policy ? { policy: deps.policy } : {}),
    },
    deps.quotes,
  );
}

/** States in which a ticket's record is finished: a new request on the ticket may be filed. */
const SETTLED: readonly string[] = [...TERMINAL_STATES, 'confirmed'];

/** Files a previewed request on an existing ticket: exactly the previewed figures (see `preview-record.ts`). */
export async function zafFileRequest(deps: ZafDeps, caller: Caller, input: { request: unknown; quote: string; ticketId: string }) {
  const request = asCallersRequest(input.request, caller, input.ticketId);
  await assertAllowed(deps, caller, 'file_request', { recordId: null, accountId: accountIdOf(request) || UNASSIGNED_ACCOUNT });
  return deps.store.transaction(async (uow) => {
    // The ticket lock serialises this with webhook deliveries and other agents filing on the ticket.
    await uow.records.lockTickets([input.ticketId]);
    const open = (await uow.records.findLatestByTickets([input.ticketId])).get(input.ticketId) ?? null;
    if (open && !SETTLED.includes(open.state)) {
      throw new AppError(
        'conflict',
        open.state === 'draft'
          ? `This ticket already has a draft (${open.id}); fix that draft instead of filing another`
          : `This ticket already has a request on its way (${open.state.replace(/_/g, ' ')}); cancel it or wait until it is finished`,
        { details: { record_id: open.id, state: open.state } },
      );
    }
    return createQuotedRecordIn(uow, deps, { request, actor: actorOf(caller, 'file_request'), quote: input.quote }, deps.quotes, deps.clock.now());
  });
}

/** Corrects a draft with a previewed request and submits it, with the previewed figures. */
export async function zafFixDraft(deps: ZafDeps, caller: Caller, input: { recordId: string; request: unknown; quote: string; version: number }) {
  const draft = await recordOrThrow(deps, input.recordId);
  await assertAllowed(deps, caller, 'fix_draft', { recordId: draft.id, accountId: draft.account_id });
  if (draft.state !== 'draft')
    throw new AppError('illegal_transition', `Record ${draft.id} is ${draft.state.replace(/_/g, ' ')}, not a draft; there is nothing to fix`);
  const request = asCallersRequest(input.request, caller, draft.ticket_id);
  const actor = actorOf(caller, 'fix_draft');
  return deps.store.transaction(async (uow) => {
    const now = deps.clock.now();
    const { at, result } = quotedInstant(deps.quotes, input.quote, request, now);
    await uow.records.lockMany([draft.id]);
    const ev = await evaluateRequest(uow, deps, request, at);
    const candidate = recordFromEvaluation(draft.id, request, ev, actor, at.toISOString());
    assertMatchesQuote(candidate, result);
    const patch = revisionPatch(draft, candidate);
    return transitionIn(uow, now, {
      recordId: draft.id,
      event: 'submit',
      actor,
      expectedVersion: input.version,
      reason: 'fixed in the Zendesk app',
      patch,
    });
  });
}

export async function zafCancel(deps: ZafDeps, caller: Caller, input: { recordId: string; version: number; reason?: string }) {
  const record = await recordOrThrow(deps, input.recordId);
  await assertAllowed(deps, caller, 'cancel_record', { recordId: record.id, accountId: record.account_id });
  return transitionRecord(deps, {
    recordId: record.id,
    event: 'cancel',
    actor: actorOf(caller, 'cancel_record'),
    expectedVersion: input.version,
    reason: input.reason?.trim() || 'cancelled in the Zendesk app',
  });
}

export async function zafRetry(deps: ZafDeps, caller: Caller, input: { recordId: string; version: number }) {
  const record = await recordOrThrow(deps, input.recordId);
  await assertAllowed(deps, caller, 'retry_record', { recordId: record.id, accountId: record.account_id });
  if (record.version !== input.version)
    throw new AppError('conflict', `Record ${record.id} changed since you looked (now ${record.state.replace(/_/g, ' ')}); reload and try again`);
  const role = actorOf(caller, 'retry_record').role;
  return retryRecord(deps, record.id, { role: role === 'customer' ? 'agent' : role, id: caller.email });
}

/** Opens a dispute from the sidebar: the caller is the actor; reason and document references are validated as for the API. */
export async function zafDispute(deps: ZafDeps, caller: Caller, input: { recordId: string; version: number; reason: string; documents?: unknown }) {
  const record = await recordOrThrow(deps, input.recordId);
  await assertAllowed(deps, caller, 'dispute_record', { recordId: record.id, accountId: record.account_id });
  return disputeRecord(deps, {
    recordId: record.id,
    actor: actorOf(caller, 'dispute_record'),
    expectedVersion: input.version,
    body: { reason: input.reason, ...(input.documents !== undefined ? { documents: input.documents } : {}) },
  });
}

/** Resolves a dispute from the sidebar (supervisors and admins); `reversed` files the reversal for approval. */
export async function zafResolve(deps: ZafDeps, caller: Caller, input: { recordId: string; version: number; reason: string; outcome: string }) {
  const record = await recordOrThrow(deps, input.recordId);
  await assertAllowed(deps, caller, 'resolve_record', { recordId: record.id, accountId: record.account_id });
  return resolveRecord(deps, {
    recordId: record.id,
    actor: actorOf(caller, 'resolve_record'),
    expectedVersion: input.version,
    body: { reason: input.reason, outcome: input.outcome },
  });
}

/** The customer's answer to the retention offer the record is held for (see `retention.ts`). */
export async function zafRetentionAnswer(
  deps: ZafDeps,
  caller: Caller,
  input: { recordId: string; outcome: 'accepted' | 'declined'; version: number; note?: string },
): Promise<RetentionAnswerOutcome> {
  const record = await recordOrThrow(deps, input.recordId);
  await assertAllowed(deps, caller, 'answer_retention_offer', { recordId: record.id, accountId: record.account_id });
  return recordRetentionAnswer(
    { ...deps, policy: { retention_offers: deps.policy?.retention_offers } },
    {
      recordId: record.id,
      outcome: input.outcome,
      actor: actorOf(caller, 'answer_retention_offer'),
      expectedVersion: input.version,
      ...(input.note ? { note: input.note } : {}),
    },
  );
}
