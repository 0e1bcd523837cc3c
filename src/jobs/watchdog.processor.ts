import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';
import { runWatchdog } from '../app/watchdog';
import type { WatchdogDeps } from '../app/watchdog';
import type { QueueRegistry } from './queues';
import type { Processor } from './worker';

/** The watchdog's job: one scan per run; what to alert and how is the use-case's (src/app/watchdog.ts). */
export function watchdogProcessors(deps: WatchdogDeps): Partial<Record<Topic, Processor>> {
  return {
    [TOPICS.watchdogScan]: async (_payload, ctx) => {
      const raised = await runWatchdog(deps);
      if (raised.length) ctx.logger.info({ raised: raised.length, conditions: [...new Set(raised.map((r) => r.condition))] }, 'watchdog raised alerts');
    },
  };
}

/**
 * Runs the scan every `everyMs` through a BullMQ job scheduler: one scan per interval across all
 * workers (the alert table makes a second scan harmless anyway). Upserting on every start keeps
 * one scheduler whatever the number of restarts.
 */
export async function scheduleWatchdog(queues: QueueRegistry, everyMs: number): Promise<void> {
  await queues
    .get(TOPICS.watchdogScan)
    .upsertJobScheduler(
      'watchdog',
      { every: everyMs },
      { name: TOPICS.watchdogScan, data: {}, opts: { attempts: 1, removeOnComplete: true, removeOnFail: 100 } },
    );
}
