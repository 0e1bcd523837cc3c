import type { Knex } from 'knex';
import type { Kind } from '../records/kinds';
import type { RaisedAlert, WatchdogCandidate, WatchdogCondition, WatchdogSource } from '../app/watchdog';
import { KnexAuditAppender } from './audit.repository';
import { KnexOutboxWriter } from './outbox.repository';

/**
 * The watchdog's reads (records that may be overdue and not yet alerted for the condition) and its
 * one write: the alert row, its outbox messages and its audit event, in one transaction.
 */

/** States in which a record is still on its way to being confirmed (scheduled waits; drafts are on the agent). */
const OPEN = ['draft', 'submitted', 'pending_approval', 'approved', 'applying', 'applied', 'failed'];

const WHERE: Record<WatchdogCondition, string> = {
  draft_overdue: `r.state = 'draft' AND r.created_at <= :cutoff`,
  approval_overdue: `r.state = 'pending_approval' AND q.decided_at IS NULL AND q.escalate_after_hours IS NOT NULL
                     AND q.requested_at + q.escalate_after_hours * interval '1 hour' <= :now`,
  failed_stuck: `r.state = 'failed' AND r.updated_at <= :cutoff`,
  scheduled_late: `r.state IN ('approved', 'scheduled', 'applying') AND r.effective_at <= :cutoff`,
  turnaround_at_risk: `r.state = ANY(:open) AND r.created_at <= :cutoff`,
};

interface CandidateRow {
  id: string;
  kind: string;
  account_id: string;
  ticket_id: string | null;
  state: string;
  created_at: Date;
  updated_at: Date;
  effective_at: Date | null;
  paused_at: Date | null;
  resumed_at: Date | null;
  escalate_at: Date | null;
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);

export class KnexWatchdogSource implements WatchdogSource {
  constructor(private readonly db: Knex) {}

  async candidates(condition: WatchdogCondition, now: Date, olderThanMs: number): Promise<WatchdogCandidate[]> {
    const pauses =
      condition === 'turnaround_at_risk'
        ? `LEFT JOIN LATERAL (
             SELECT min(x.occurred_at) FILTER (WHERE x.type = 'record.schedule') AS paused_at,
                    max(x.occurred_at) FILTER (WHERE x.type = 'record.start_apply') AS resumed_at
               FROM audit_events x WHERE x.record_id = r.id AND x.type IN ('record.schedule', 'record.start_apply')
           ) p ON true`
        : 'LEFT JOIN LATERAL (SELECT NULL::timestamptz AS paused_at, NULL::timestamptz AS resumed_at) p ON true';
    const { rows } = await this.db.raw<{ rows: CandidateRow[] }>(
      `SELECT r.id, r.kind, r.account_id, r.ticket_id, r.state, r.created_at, r.updated_at, r.effective_at, p.paused_at, p.resumed_at,
              q.requested_at + q.escalate_after_hours * interval '1 hour' AS escalate_at
         FROM lifecycle_records r
         LEFT JOIN approval_requests q ON q.record_id = r.id
         ${pauses}
        WHERE ${WHERE[condition]}
          AND NOT EXISTS (SELECT 1 FROM watchdog_alerts w WHERE w.record_id = r.id AND w.condition = :condition)
        ORDER BY r.created_at
        LIMIT 1000`,
      { now, cutoff: new Date(now.getTime() - olderThanMs), condition, open: OPEN },
    );
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind as Kind,
      account_id: r.account_id,
      ticket_id: r.ticket_id,
      state: r.state,
      created_at: iso(r.created_at)!,
      updated_at: iso(r.updated_at)!,
      effective_at: iso(r.effective_at),
      pause: r.paused_at && r.resumed_at && r.resumed_at > r.paused_at ? [new Date(r.paused_at).getTime(), new Date(r.resumed_at).getTime()] : null,
      escalate_at: iso(r.escalate_at),
    }));
  }

  async raise(alert: RaisedAlert): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      const claimed = await trx('watchdog_alerts')
        .insert({ record_id: alert.recordId, condition: alert.condition, raised_at: alert.at, detail: JSON.stringify(alert.detail) })
        .onConflict(['record_id', 'condition'])
        .ignore()
        .returning('record_id');
      if (claimed.length === 0) return false;
      await new KnexOutboxWriter(trx).add(alert.messages);
      await new KnexAuditAppender(trx).append([alert.event]);
      return true;
    });
  }
}
