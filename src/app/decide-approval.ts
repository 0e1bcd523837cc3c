import type { Actor } from '../records/actors';
import { checkPartialAmount } from '../records/partial-approval';
import type { LifecycleRecord } from '../records/kinds';
import type { ApprovalRequest, TransactionRunner, UnitOfWork } from '../records/ports';
import type { AppDeps } from './deps';
import { transitionIn } from './transition-record';
import { TOPICS } from './topics';

/** Who a Slack user is, as far as approvals care. */
export interface ApproverDirectory {
  /** The user's email (to recognise the requesting agent), or null when it cannot be established. */
  emailOf(userId: string): Promise<string | null>;
  /** Which of `groupIds` the user belongs to, or null when membership cannot be checked. */
  groupsOf(userId: string, groupIds: readonly string[]): Promise<string[] | null>;
}

export interface DecisionInput {
  readonly recordId: string;
  /** The record version the clicked message was built from. */
  readonly version: number;
  readonly decision: 'approve' | 'reject';
  readonly approverId: string;
  readonly approverName?: string;
  readonly reason?: string;
  /**
   * Partial approval: the lower amount the approver decided, in major units of the record's
   * currency ("12.50"), with `reason` required. The record's amount is lowered (its own audited
   * transition) before the approval is counted.
   */
  readonly lowerTo?: string;
}

export type RefusalCode =
  | 'not_approver'
  | 'identity_unknown'
  | 'self_approval'
  | 'same_approver'
  | 'stale'
  | 'not_pending'
  | 'already_decided'
  | 'reason_required'
  | 'invalid_amount'
  | 'not_found';

export type DecisionOutcome =
  | { readonly status: 'decided'; readonly outcome: 'approved' | 'rejected'; readonly record: LifecycleRecord; readonly approvers: string[] }
  | { readonly status: 'recorded'; readonly approvals: number; readonly required: number; readonly record: LifecycleRecord }
  | { readonly status: 'refused'; readonly code: RefusalCode; readonly message: string };

/** Refusals that are attempts to do something not allowed (audited); the rest are late or repeated clicks. */
const AUDITED: readonly RefusalCode[] = ['not_approver', 'identity_unknown', 'self_approval', 'same_approver', 'stale'];

const sameIdentity = (requestedBy: string, approverId: string, email: string) => {
  const r = requestedBy.trim().toLowerCase();
  return r === approverId.toLowerCase() || r === email.trim().toLowerCase();
};

const UNKNOWN_IDENTITY = (why: string) =>
  `Your decision was not recorded: ${why}, so we cannot check that you are allowed to decide this request ` +
  '(and that you did not request it yourself). Try again in a minute; if it keeps happening, ask an admin to check ' +
  "the Slack app's users:read.email and usergroups:read scopes.";

const refreshMessage = (record: LifecycleRecord) => ({
  topic: TOPICS.approvalUpdate,
  key: `approval-update.${record.id}.v${record.version}`,
  payload: { record_id: record.id },
});

/**
 * Decides one Slack click. Slack lookups happen before the transaction; inside it the record row
 * is locked, so concurrent clicks run one after another and exactly one of them decides. Every
 * refusal says why; attempts that are not allowed are written to the audit trail.
 */
export async function decideApproval(
  deps: Pick<AppDeps, 'clock'> & { store: TransactionRunner; directory: ApproverDirectory },
  input: DecisionInput,
): Promise<DecisionOutcome> {
  const request = await deps.store.transaction((uow) => uow.approvals.get(input.recordId));
  if (!request) return { status: 'refused', code: 'not_found', message: 'This approval request no longer exists.' };
  const [email, groups] = await Promise.all([
    deps.directory.emailOf(input.approverId),
    request.approvers.user_groups.length ? deps.directory.groupsOf(input.approverId, request.approvers.user_groups) : Promise.resolve([] as string[]),
  ]);
  return deps.store.transaction((uow) => decideLocked(uow, deps.clock.now(), input, request, email, groups));
}

async function decideLocked(
  uow: UnitOfWork,
  now: Date,
  input: DecisionInput,
  request: ApprovalRequest,
  email: string | null,
  groups: string[] | null,
): Promise<DecisionOutcome> {
  const actor: Actor = { role: 'supervisor', id: input.approverId, ...(input.approverName ? { name: input.approverName.slice(0, 200) } : {}) };
  const record = await uow.records.getForUpdate(input.recordId);
  if (!record) return { status: 'refused', code: 'not_found', message: 'This record no longer exists.' };
  const decisions = await uow.approvals.decisions(record.id);
  const mine = decisions.find((d) => d.approver_id === input.approverId);

  const refuse = async (code: RefusalCode, message: string, extra: Record<string, unknown> = {}): Promise<DecisionOutcome> => {
    if (AUDITED.includes(code)) {
      await uow.audit.append([
        {
          account_id: record.account_id,
          record_id: record.id,
          type: 'approval.refused',
          actor,
          occurred_at: now.toISOString(),
          data: { code, decision: input.decision, clicked_version: input.version, record_version: record.version, state: record.state, ...extra },
        },
      ]);
    }
    if (code === 'stale' || code === 'not_pending') await uow.outbox.add([refreshMessage(record)]);
    return { status: 'refused', code, message };
  };

  if (record.state !== 'pending_approval') {
    return mine
      ? refuse('already_decided', `You already ${mine.decision === 'approve' ? 'approved' : 'rejected'} this request; it is now ${record.state}.`)
      : refuse('not_pending', `This request is already ${record.state}; nothing to decide.`);
  }
  if (input.version !== record.version) {
    return refuse('stale', 'This request changed since the message was posted; the message has been refreshed, please review it again.');
  }
  const listed = request.approvers.user_ids.includes(input.approverId);
  // Fail closed: a membership or an email Slack would not tell us can only refuse the click.
  if (!listed) {
    if (groups === null) return refuse('identity_unknown', UNKNOWN_IDENTITY('your user group membership could not be checked'), { unknown: 'groups' });
    if (groups.length === 0) return refuse('not_approver', `You are not an approver for this request (policy rule "${request.rule}").`);
  }
  if (email === null) {
    // Without the email there is no telling whether the clicker is the agent who asked (four-eyes).
    return refuse('identity_unknown', UNKNOWN_IDENTITY('Slack did not give us your email address'), { unknown: 'email' });
  }
  if (sameIdentity(record.requested_by, input.approverId, email)) {
    return refuse('self_approval', 'You requested this change, so you cannot decide it; another approver must.');
  }
  if (mine)
    return refuse(
      'same_approver',
      `You already ${mine.decision === 'approve' ? 'approved' : 'rejected'} this request; a different approver must give the next approval.`,
    );
  const reason = input.reason?.trim() ?? '';
  if (input.decision === 'reject' && !reason) return refuse('reason_required', 'A rejection needs a reason for the agent and the customer.');

  let decided = record;
  if (input.decision === 'approve' && input.lowerTo !== undefined) {
    const check = checkPartialAmount(record, input.lowerTo, reason);
    if (!check.ok) return refuse(check.code === 'reason' ? 'reason_required' : 'invalid_amount', check.message);
    const requested = record.amount;
    decided = (
      await transitionIn(uow, now, {
        recordId: record.id,
        event: 'lower_amount',
        actor,
        expectedVersion: record.version,
        reason,
        patch: check.patch,
        data: { requested_amount: requested, decided_amount: check.patch.amount, rule: request.rule },
      })
    ).record;
  }

  await uow.approvals.addDecision(record.id, {
    approver_id: input.approverId,
    decision: input.decision,
    reason: reason || null,
    record_version: decided.version,
    decided_at: now.toISOString(),
  });

  if (input.decision === 'reject') {
    const { record: rejected } = await transitionIn(uow, now, {
      recordId: record.id,
      event: 'reject',
      actor,
      expectedVersion: record.version,
      reason,
      data: { rule: request.rule },
    });
    await uow.approvals.close(record.id, 'rejected', now.toISOString());
    return { status: 'decided', outcome: 'rejected', record: rejected, approvers: [input.approverId] };
  }

  const approvers = [...decisions.filter((d) => d.decision === 'approve').map((d) => d.approver_id), input.approverId];
  if (approvers.length < request.approvals_required) {
    await uow.audit.append([
      {
        account_id: record.account_id,
        record_id: record.id,
        type: 'approval.recorded',
        actor,
        occurred_at: now.toISOString(),
        data: { approvals: approvers.length, required: request.approvals_required, rule: request.rule },
      },
    ]);
    await uow.outbox.add([{ topic: TOPICS.approvalUpdate, key: `approval-update.${record.id}.a${approvers.length}`, payload: { record_id: record.id } }]);
    return { status: 'recorded', approvals: approvers.length, required: request.approvals_required, record: decided };
  }
  const { record: approved } = await transitionIn(uow, now, {
    recordId: record.id,
    event: 'approve',
    actor,
    expectedVersion: decided.version,
    data: { approvers, rule: request.rule },
  });
  await uow.approvals.close(record.id, 'approved', now.toISOString());
  return { status: 'decided', outcome: 'approved', record: approved, approvers };
}
