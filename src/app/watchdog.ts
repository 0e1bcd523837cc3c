import { systemActor } from '../records/actors';
import type { AuditEventDraft } from '../records/audit';
import { WorkingTime, handlingMs, hoursToMs } from '../records/clocks';
import type { Clocks } from '../records/clocks';
import type { Kind } from '../records/kinds';
import type { Clock, OutboxMessage } from '../records/ports';
import { TOPICS } from './topics';

/**
 * The watchdog: finds records that need a human because a clock ran out, and raises one alert per
 * record and condition — a Slack message to the team and an internal note on the ticket, queued
 * through the outbox in the transaction that records the alert (so it is raised once, however
 * many workers run the watchdog). Conditions:
 * - `draft_overdue`: a draft older than its kind's target (working time with a calendar);
 * - `approval_overdue`: an approval still undecided past its escalation;
 * - `failed_stuck`: a failed record not retried within `failed_after_hours`;
 * - `scheduled_late`: a record not applied `scheduled_grace_hours` after its effective instant;
 * - `turnaround_at_risk`: a record still open once `at_risk_share` of its kind's turnaround
 *   target has passed (time spent scheduled not counted), so it will likely miss it.
 */

export const WATCHDOG_CONDITIONS = ['draft_overdue', 'approval_overdue', 'failed_stuck', 'scheduled_late', 'turnaround_at_risk'] as const;
export type WatchdogCondition = (typeof WATCHDOG_CONDITIONS)[number];

/** A record that may be overdue (the source may return more than are: the use-case decides). */
export interface WatchdogCandidate {
  readonly id: string;
  readonly kind: Kind;
  readonly account_id: string;
  readonly ticket_id: string | null;
  readonly state: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly effective_at: string | null;
  /** When the record waited scheduled (scheduled → started applying): not counted toward turnaround. */
  readonly pause: readonly [number, number] | null;
  /** For approvals: when the escalation was due. */
  readonly escalate_at: string | null;
}

export interface RaisedAlert {
  readonly recordId: string;
  readonly condition: WatchdogCondition;
  readonly at: string;
  readonly detail: Record<string, unknown>;
  readonly messages: readonly OutboxMessage[];
  readonly event: AuditEventDraft;
}

/** What the watchdog reads and writes (src/db/watchdog.queries.ts). */
export interface WatchdogSource {
  /**
   * Records not alerted for `condition` yet that may be due at `now`: drafts and open records at
   * least `olderThanMs` old, approvals past their escalation, failed records failed at least
   * `olderThanMs` ago, records due at least `olderThanMs` ago and not applied.
   */
  candidates(condition: WatchdogCondition, now: Date, olderThanMs: number): Promise<WatchdogCandidate[]>;
  /** Records the alert and queues its messages and audit event in one transaction; false when it was raised before. */
  raise(alert: RaisedAlert): Promise<boolean>;
}

export interface WatchdogDeps {
  readonly source: WatchdogSource;
  readonly clock: Clock;
  readonly clocks: Clocks;
}

const WATCHDOG = systemActor('watchdog');
const hoursText = (ms: number) => `${(Math.round((ms / 3_600_000) * 10) / 10).toString()} h`;
const kindWords = (kind: string) => kind.replace('_', ' ');

/** Runs every condition once at the clock's now; returns the alerts raised now. */
export async function runWatchdog(deps: WatchdogDeps): Promise<{ record_id: string; condition: WatchdogCondition }[]> {
  const now = deps.clock.now();
  const t = now.getTime();
  const c = deps.clocks;
  const working = new WorkingTime(c.business_hours);
  const unit = c.business_hours ? ' working' : '';
  const due: { candidate: WatchdogCandidate; condition: WatchdogCondition; text: string; detail: Record<string, unknown> }[] = [];
  const minOf = (hours: Record<string, number>) => Math.min(...Object.values(hours).map(hoursToMs));

  for (const r of await deps.source.candidates('draft_overdue', now, minOf(c.draft_hours))) {
    const target = c.draft_hours[r.kind];
    const age = working.elapsed(Date.parse(r.created_at), t);
    if (age < hoursToMs(target)) continue;
    due.push({
      candidate: r,
      condition: 'draft_overdue',
      detail: { age_ms: age, target_hours: target },
      text: `its draft has waited ${hoursText(age)}${unit}, past the ${target} h target for ${kindWords(r.kind)} drafts: the ticket's fields need fixing`,
    });
  }
  for (const r of await deps.source.candidates('approval_overdue', now, 0)) {
    due.push({
      candidate: r,
      condition: 'approval_overdue',
      detail: { escalate_at: r.escalate_at },
      text: `its approval is still undecided past its escalation (due ${r.escalate_at ?? '?'})`,
    });
  }
  for (const r of await deps.source.candidates('failed_stuck', now, hoursToMs(c.failed_after_hours))) {
    const since = t - Date.parse(r.updated_at);
    due.push({
      candidate: r,
      condition: 'failed_stuck',
      detail: { failed_at: r.updated_at },
      text: `it failed ${hoursText(since)} ago and has not been retried`,
    });
  }
  for (const r of await deps.source.candidates('scheduled_late', now, hoursToMs(c.scheduled_grace_hours))) {
    const late = t - Date.parse(r.effective_at!);
    due.push({
      candidate: r,
      condition: 'scheduled_late',
      detail: { effective_at: r.effective_at, state: r.state },
      text: `it was due at ${r.effective_at} and is still ${r.state}, ${hoursText(late)} later`,
    });
  }
  for (const r of await deps.source.candidates('turnaround_at_risk', now, Math.floor(minOf(c.turnaround_hours) * c.at_risk_share))) {
    const target = c.turnaround_hours[r.kind];
    const open = handlingMs(working, Date.parse(r.created_at), t, r.pause ? [r.pause] : []);
    if (open < hoursToMs(target) * c.at_risk_share) continue;
    due.push({
      candidate: r,
      condition: 'turnaround_at_risk',
      detail: { open_ms: open, target_hours: target },
      text: `it has been open ${hoursText(open)}${unit} of its ${target} h turnaround target for ${kindWords(r.kind)}s and is not confirmed yet`,
    });
  }

  const raised: { record_id: string; condition: WatchdogCondition }[] = [];
  for (const d of due) {
    const r = d.candidate;
    const messages: OutboxMessage[] = [{ topic: TOPICS.slackAlert, key: `watchdog.${r.id}.${d.condition}`, payload: { record_id: r.id, reason: d.text } }];
    // Zendesk ticket ids are numbers; a record filed through the API with another id has no ticket to note.
    if (r.ticket_id && /^\d+$/.test(r.ticket_id)) {
      messages.push({
        topic: TOPICS.zendeskNote,
        key: `watchdog-note.${r.id}.${d.condition}`,
        payload: { ticket_id: r.ticket_id, note: `Lifecycle Desk record ${r.id} needs attention: ${d.text}. The team has been alerted in Slack.`, tags: [] },
      });
    }
    const at = now.toISOString();
    const ok = await deps.source.raise({
      recordId: r.id,
      condition: d.condition,
      at,
      detail: d.detail,
      messages,
      event: {
        account_id: r.account_id,
        record_id: r.id,
        type: 'watchdog.alert',
        actor: WATCHDOG,
        occurred_at: at,
        data: { condition: d.condition, ...d.detail },
      },
    });
    if (ok) raised.push({ record_id: r.id, condition: d.condition });
  }
  return raised;
}
