import type { Job } from 'bullmq';
import type { JobTraces } from '../app/privacy';
import type { QueueRegistry } from './queues';

/**
 * Finished jobs stay in Redis for a while (the last 1000 completed and 5000 failed per queue), and
 * a failed job's reason can quote what failed (an address a mail server refused). Erasing an
 * account removes its records' finished jobs; waiting and delayed jobs hold ids only and stay.
 */
export class BullJobTraces implements JobTraces {
  constructor(private readonly queues: QueueRegistry) {}

  async removeFor(recordIds: readonly string[]): Promise<number> {
    if (recordIds.length === 0) return 0;
    const ids = new Set(recordIds);
    let removed = 0;
    for (const queue of this.queues.all()) {
      const jobs = (await queue.getJobs(['completed', 'failed'])) as (Job | undefined)[];
      for (const job of jobs) {
        const recordId = (job?.data as { record_id?: unknown } | undefined)?.record_id;
        if (job && typeof recordId === 'string' && ids.has(recordId)) {
          await job.remove();
          removed += 1;
        }
      }
    }
    return removed;
  }
}
