import { z } from 'zod';
import type { Knex } from 'knex';
import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';
import type { SlackNotifier } from '../integrations/slack/slack.notifier';
import type { QueueRegistry } from './queues';
import { RecordPayload, parsePayload } from './processors';
import type { Processor } from './worker';

const ApprovalPayload = z.object({ record_id: z.uuid(), kind: z.enum(['initial', 'reminder', 'escalation']).default('initial') });
const AlertPayload = z.object({ record_id: z.uuid(), reason: z.string() });

const ALERT_TEXT: Record<string, string> = {
  apply_failed: 'applying it to billing failed and will not be retried automatically',
};

/** Processors for the Slack side of approvals: posting requests, reminders and escalations, updating decided messages, alerts. */
export function slackProcessors(notifier: SlackNotifier): Partial<Record<Topic, Processor>> {
  return {
    [TOPICS.approvalRequest]: async (payload, ctx) => {
      const { record_id, kind } = parsePayload(ApprovalPayload, payload, TOPICS.approvalRequest);
      const outcome = await notifier.postApprovalRequest(record_id, kind);
      ctx.logger.info({ record_id, kind, outcome }, 'approval request job done');
    },
    [TOPICS.approvalUpdate]: async (payload) => {
      const { record_id } = parsePayload(RecordPayload, payload, TOPICS.approvalUpdate);
      await notifier.updateApprovalMessages(record_id);
    },
    [TOPICS.slackAlert]: async (payload) => {
      const { record_id, reason } = parsePayload(AlertPayload, payload, TOPICS.slackAlert);
      await notifier.alert(record_id, ALERT_TEXT[reason] ?? reason);
    },
  };
}

/** Drops a decided record's pending reminder and escalation jobs (the processors also check state, so this is tidiness, not safety). */
export function reminderCanceller(queues: QueueRegistry, db: Knex) {
  return async (recordId: string): Promise<void> => {
    const keys = [`approval-request.${recordId}.reminder`, `approval-request.${recordId}.escalation`];
    const q = queues.get(TOPICS.approvalRequest);
    for (const key of keys) await q.remove(key).catch(() => 0);
    await db('outbox').whereIn('key', keys).whereNull('completed_at').update({ completed_at: db.fn.now(), last_error: 'cancelled: decided' });
  };
}
