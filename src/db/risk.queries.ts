import type { Knex } from 'knex';
import type { LifecycleRecord } from '../records/kinds';
import { RISK_COUNTED_STATES, STATUS_REQUEST_SUBTYPES } from '../records/risk';
import type { RiskFacts, RiskThresholds } from '../records/risk';

const DAY = 86_400_000;

/**
 * The numbers risk flags are computed from, for one record (see {@link RiskFacts}), in one round
 * trip. The record itself never counts. Windows reach back from `now` by the configured days on
 * `created_at` (when the request was made); which states count is domain policy
 * (`RISK_COUNTED_STATES`): drafts and withdrawn records never, refused requests only where asking
 * is the signal.
 *
 * Plan: the account facts are one range scan of the (account_id, created_at) index over the
 * longest window, split with FILTER; the agent's credits use the partial index
 * (requested_by, created_at) WHERE kind = 'service_credit'.
 */
export async function loadRiskFacts(db: Knex | Knex.Transaction, record: LifecycleRecord, now: Date, t: RiskThresholds): Promise<RiskFacts> {
  const since = (days: number) => new Date(now.getTime() - days * DAY);
  const widest = Math.max(t.status_window_days, t.flip_flop_window_days, t.rolling_credit_days);
  // Knex wants mutable arrays for bindings.
  const requests: string[] = [...RISK_COUNTED_STATES.requests];
  const effects: string[] = [...RISK_COUNTED_STATES.effects];

  const agentCredits = db('lifecycle_records')
    .where('requested_by', record.requested_by)
    // A literal, not a binding, so the planner can always prove the partial index's predicate.
    .whereRaw(`kind = 'service_credit'`)
    .where('created_at', '>=', since(t.agent_window_days))
    .whereNot('id', record.id)
    .whereIn('state', requests)
    .count('*');

  const row = (await db('lifecycle_records')
    .where('account_id', record.account_id)
    .where('created_at', '>=', since(widest))
    .whereNot('id', record.id)
    .whereIn('state', [...new Set([...requests, ...effects])])
    .first(
      db.raw(`count(*) FILTER (WHERE kind = 'status_change' AND subtype = ANY(?) AND state = ANY(?) AND created_at >= ?) AS status_requests`, [
        [...STATUS_REQUEST_SUBTYPES],
        requests,
        since(t.status_window_days),
      ]),
      db.raw(`count(*) FILTER (WHERE kind = 'status_change' AND state = ANY(?) AND created_at >= ?) AS status_changes`, [
        effects,
        since(t.flip_flop_window_days),
      ]),
      // Credits are negative amounts; the sum is in the record's currency only (a record without money sums nothing).
      db.raw(
        `coalesce(sum(-amount_minor) FILTER (WHERE kind = 'service_credit' AND amount_minor < 0 AND currency = ? AND state = ANY(?) AND created_at >= ?), 0) AS rolling_credits`,
        [record.amount?.currency ?? null, effects, since(t.rolling_credit_days)],
      ),
      agentCredits.as('agent_credits'),
    )) as { status_requests: string; status_changes: string; rolling_credits: string; agent_credits: string };

  return {
    recentStatusRequests: Number(row.status_requests),
    recentStatusChanges: Number(row.status_changes),
    rollingCreditsMinor: Number(row.rolling_credits),
    agentCredits: Number(row.agent_credits),
  };
}
