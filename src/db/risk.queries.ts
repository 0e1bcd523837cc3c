import type { Knex } from 'knex';
import type { LifecycleRecord } from '../records/kinds';
import type { RiskFacts, RiskThresholds } from '../records/risk';

const DAY = 86_400_000;
/** Records that were withdrawn or refused do not count towards risk (drafts never reached anyone). */
const COUNTED_STATES = ['submitted', 'pending_approval', 'approved', 'scheduled', 'applying', 'applied', 'failed', 'confirmed', 'closed', 'disputed', 'resolved'];

/**
 * The numbers risk flags are computed from, for one record, excluding the record itself. One
 * round trip; uses the (account_id, created_at) index for the account windows.
 */
export async function loadRiskFacts(db: Knex | Knex.Transaction, record: LifecycleRecord, now: Date, t: RiskThresholds): Promise<RiskFacts> {
  const since = (days: number) => new Date(now.getTime() - days * DAY);
  const currency = record.amount?.currency ?? null;
  const { rows } = await db.raw<{ rows: Record<string, string | null>[] }>(
    `SELECT
       count(*) FILTER (WHERE kind = 'status_change' AND subtype IN ('suspension','deactivation') AND created_at >= ?) AS status_requests,
       count(*) FILTER (WHERE kind = 'status_change' AND created_at >= ?) AS status_changes,
       coalesce(sum(-amount_minor) FILTER (WHERE kind = 'service_credit' AND amount_minor < 0 AND currency = ? AND created_at >= ?), 0) AS rolling_credits
     FROM lifecycle_records
     WHERE account_id = ? AND id <> ? AND state = ANY(?) AND created_at >= ?`,
    [
      since(t.status_window_days),
      since(t.flip_flop_window_days),
      currency,
      since(t.rolling_credit_days),
      record.account_id,
      record.id,
      COUNTED_STATES,
      since(Math.max(t.status_window_days, t.flip_flop_window_days, t.rolling_credit_days)),
    ],
  );
  const agent = await db('lifecycle_records')
    .where({ requested_by: record.requested_by, kind: 'service_credit' })
    .whereNot({ id: record.id })
    .whereIn('state', COUNTED_STATES)
    .where('created_at', '>=', since(t.agent_window_days))
    .count<{ n: string }[]>('* as n');
  const r = rows[0]!;
  return {
    recentStatusRequests: Number(r.status_requests),
    recentStatusChanges: Number(r.status_changes),
    rollingCreditsMinor: Number(r.rolling_credits),
    agentCredits: Number(agent[0]!.n),
  };
}
