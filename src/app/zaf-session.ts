import { can } from '../records/access';
import type { Role } from '../records/access';
import type { RecordSummary, TicketSummary } from './record-summary';

/** The agent a verified sidebar token names (from the claims Zendesk fills in). */
export interface VerifiedAgent {
  /** Zendesk user id. */
  readonly id: string;
  readonly email: string;
  readonly name: string | null;
}

/** The person behind a sidebar request, as the service confirmed them (never taken from the body). */
export interface Caller {
  readonly zendeskUserId: string;
  readonly email: string;
  readonly name: string | null;
  readonly role: Role;
}

/** Confirms a verified agent and gives their role (the Zendesk Users API implements it). */
export interface AgentDirectory {
  /** Throws AppError unauthorized (not an agent of the account) or unavailable (cannot ask). */
  resolve(agent: VerifiedAgent): Promise<Caller>;
}

/** What the caller may do with a record now: the buttons the sidebar shows, from the access table. */
export interface RecordActions {
  readonly fix: boolean;
  readonly cancel: boolean;
  readonly retry: boolean;
  readonly dispute: boolean;
  readonly resolve: boolean;
}

export function actionsFor(role: Role, r: Pick<RecordSummary, 'state' | 'effective_at'>, now: Date): RecordActions {
  const beforeInstant = !r.effective_at || Date.parse(r.effective_at) > now.getTime();
  return {
    fix: r.state === 'draft' && can(role, 'fix_draft'),
    cancel: (r.state === 'pending_approval' || r.state === 'draft' || (r.state === 'scheduled' && beforeInstant)) && can(role, 'cancel_record'),
    retry: r.state === 'failed' && can(role, 'retry_record'),
    dispute: (r.state === 'applied' || r.state === 'confirmed') && can(role, 'dispute_record'),
    resolve: r.state === 'disputed' && can(role, 'resolve_record'),
  };
}

/**
 * A ticket's summary with, per record, what this caller may do with it. The stamp covers the
 * actions too: a scheduled record's cancel button goes when its instant passes, with no other change.
 */
export function withActions(summary: TicketSummary, role: Role, now: Date) {
  const records = summary.records.map((r) => ({ ...r, actions: actionsFor(role, r, now) }));
  const bits = records.map((r) => `${+r.actions.fix}${+r.actions.cancel}${+r.actions.retry}${+r.actions.dispute}${+r.actions.resolve}`).join('');
  return { ...summary, records, stamp: `${summary.stamp}.${role}.${bits}` };
}
