import { z } from 'zod';
import { scheduleNextProgress } from '../app/incidents';
import type { AppDeps } from '../app/deps';
import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';
import type { IncidentNotifier } from '../integrations/slack/incident.notifier';
import { parsePayload } from './processors';
import type { Processor } from './worker';

const BatchPayload = z.object({ batch_id: z.uuid() });
const ProgressPayload = z.object({ batch_id: z.uuid(), step: z.string().min(1).max(200) });

/**
 * Incident batches in Slack: post the one approval request; refresh its message as the credits
 * move (each refresh queues the next through the outbox while credits are still on their way).
 */
export function incidentProcessors(deps: { notifier: IncidentNotifier; app: Pick<AppDeps, 'store' | 'clock'> }): Partial<Record<Topic, Processor>> {
  return {
    [TOPICS.incidentApproval]: async (payload, ctx) => {
      const { batch_id } = parsePayload(BatchPayload, payload, TOPICS.incidentApproval);
      const outcome = await deps.notifier.postBatch(batch_id);
      ctx.logger.info({ batch_id, outcome }, 'incident approval request job done');
    },
    [TOPICS.incidentProgress]: async (payload, ctx) => {
      const { batch_id, step } = parsePayload(ProgressPayload, payload, TOPICS.incidentProgress);
      const { inFlight, updated } = await deps.notifier.updateBatch(batch_id);
      const again = await scheduleNextProgress(deps.app, batch_id, step, inFlight);
      ctx.logger.info({ batch_id, step, in_flight: inFlight, updated, again }, 'incident progress refreshed');
    },
  };
}
