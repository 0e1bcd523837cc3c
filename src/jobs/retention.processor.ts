import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';
import { purgeExpired } from '../app/retention';
import type { RetentionSource } from '../app/retention';
import type { PrivacyStore } from '../app/privacy';
import type { Clock } from '../records/ports';
import type { Retention } from '../records/retention';
import type { QueueRegistry } from './queues';
import type { Processor } from './worker';

/** The retention purge's job: one pass per run; it logs what it erased (ids only, never values). */
export function retentionProcessors(deps: {
  source: RetentionSource;
  privacy: Pick<PrivacyStore, 'erase' | 'eraseRecord'>;
  clock: Clock;
  retention: Retention;
}): Partial<Record<Topic, Processor>> {
  return {
    [TOPICS.retentionPurge]: async (_payload, ctx) => {
      const r = await purgeExpired(deps);
      ctx.logger.info(
        { accounts: r.accounts.map((a) => a.account_id), records: r.records.map((x) => x.id) },
        `retention purge erased ${r.accounts.length} account(s) and ${r.records.length} record(s)`,
      );
    },
  };
}

/**
 * Runs the purge every `everyMs` through a BullMQ job scheduler (one run per interval across all
 * workers) on the records queue; the job is named after its topic, which is how workers route it.
 */
export async function scheduleRetention(queues: QueueRegistry, everyMs: number): Promise<void> {
  await queues
    .get(TOPICS.retentionPurge)
    .upsertJobScheduler(
      'retention',
      { every: everyMs },
      { name: TOPICS.retentionPurge, data: {}, opts: { attempts: 1, removeOnComplete: true, removeOnFail: 100 } },
    );
}
