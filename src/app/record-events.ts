import type { LifecycleRecord, State } from '../records/kinds';
import type { OutboxMessage } from '../records/ports';
import { TOPICS } from './topics';
import { KIND_MODULES } from '../records/kinds';

/** Customer email outcomes (one template set each; the email job accepts exactly these). */
export const EMAIL_OUTCOME_NAMES = ['applied', 'scheduled', 'rejected', 'credit_granted', 'resolved', 'reversed'] as const;
export type EmailOutcome = (typeof EMAIL_OUTCOME_NAMES)[number];

export const emailMessage = (record: LifecycleRecord, outcome: EmailOutcome): OutboxMessage => ({
  topic: TOPICS.emailSend,
  // Once per record and outcome, whatever happens upstream.
  key: `email.${record.id}.${outcome}`,
  payload: { record_id: record.id, outcome },
});

export const billingApplyMessage = (record: LifecycleRecord, attempt = 0, availableAt?: string): OutboxMessage => ({
  topic: TOPICS.billingApply,
  key: `billing-apply.${record.id}.${attempt === 0 ? 'v' + record.version : 'retry' + attempt}`,
  payload: { record_id: record.id },
  ...(availableAt ? { available_at: availableAt } : {}),
});

/**
 * The side effects a committed record change causes, as outbox messages written in the same
 * transaction. Keys name the record and version (or outcome), so a replayed change is stored once.
 */
export function followUpsOf(record: LifecycleRecord, previous: State | null): OutboxMessage[] {
  const out: OutboxMessage[] = [];
  const v = `${record.id}.v${record.version}`;
  if (record.ticket_id) {
    out.push({ topic: TOPICS.zendeskSync, key: `zendesk-sync.${v}`, payload: { record_id: record.id, version: record.version } });
  }
  switch (record.state) {
    case 'submitted':
      out.push({ topic: TOPICS.recordAdvance, key: `advance.${v}`, payload: { record_id: record.id } });
      break;
    case 'pending_approval':
      // Still pending after a change on the way (an amount lowered): the posted message is refreshed, not posted again.
      if (previous === 'pending_approval') out.push({ topic: TOPICS.approvalUpdate, key: `approval-update.${v}`, payload: { record_id: record.id } });
      else out.push({ topic: TOPICS.approvalRequest, key: `approval-request.${v}`, payload: { record_id: record.id, kind: 'initial' } });
      break;
    case 'approved':
      out.push(billingApplyMessage(record));
      break;
    case 'scheduled':
      out.push(emailMessage(record, 'scheduled'));
      break;
    case 'applied':
      // A reversal tells the customer what was undone, once, instead of announcing a new change.
      out.push(emailMessage(record, record.reverses_record_id ? 'reversed' : KIND_MODULES[record.kind].appliedEmail));
      break;
    case 'disputed':
      // The approval message (if the record had one) shows the dispute and offers to resolve it.
      out.push({ topic: TOPICS.approvalUpdate, key: `approval-update.${v}`, payload: { record_id: record.id } });
      break;
    case 'resolved':
      out.push(emailMessage(record, 'resolved'));
      out.push({ topic: TOPICS.approvalUpdate, key: `approval-update.${v}`, payload: { record_id: record.id } });
      break;
    case 'rejected':
      out.push(emailMessage(record, 'rejected'));
      break;
    case 'failed':
      out.push({ topic: TOPICS.slackAlert, key: `alert.${v}`, payload: { record_id: record.id, reason: 'apply_failed' } });
      break;
    default:
      break;
  }
  if (previous === 'scheduled' && record.state === 'cancelled') {
    out.push({ topic: TOPICS.billingUnschedule, key: `billing-unschedule.${record.id}`, payload: { record_id: record.id } });
  }
  if (previous === 'pending_approval' && record.state !== 'pending_approval') {
    out.push({ topic: TOPICS.approvalUpdate, key: `approval-update.${v}`, payload: { record_id: record.id } });
  }
  return out;
}
