import { UnrecoverableError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from '../observability/logger';
import { AppError } from '../records/errors';
import type { Topic } from '../app/topics';
import { bullConnection, DEFAULT_JOB_OPTIONS } from './queues';
import type { QueueSettings } from './queues';

export interface JobContext {
  readonly job: Job;
  readonly logger: Logger;
  /** True on the last attempt BullMQ will make. */
  readonly lastAttempt: boolean;
}

/** Validates the payload, loads current state, calls one use-case. Throws AppError with `retryable` on failure. */
export type Processor = (payload: unknown, ctx: JobContext) => Promise<void>;

/** Called once a job will not be retried any more (non-retryable error or attempts used up). Must be idempotent. */
export type ExhaustedHandler = (topic: Topic, payload: unknown, error: Error, ctx: JobContext) => Promise<void>;

export interface WorkerPoolOptions {
  readonly concurrency?: number;
  /** Lock held on a running job; a crashed worker's job is taken over after it expires. */
  readonly lockDurationMs?: number;
  readonly onExhausted?: ExhaustedHandler;
}

const isRetryable = (err: unknown): boolean => (err instanceof AppError ? err.retryable : !(err instanceof UnrecoverableError));

/**
 * One BullMQ worker per topic. Every job ends with its outbox row marked completed (success, or
 * final failure after onExhausted), so the relay's reconciler only re-adds jobs that are truly
 * unfinished.
 */
export class WorkerPool {
  private readonly workers: Worker[] = [];

  constructor(
    private readonly db: Knex,
    private readonly settings: QueueSettings,
    private readonly processors: Partial<Record<Topic, Processor>>,
    private readonly logger: Logger,
    private readonly opts: WorkerPoolOptions = {},
  ) {}

  async start(): Promise<void> {
    for (const [topic, processor] of Object.entries(this.processors) as [Topic, Processor][]) {
      const worker = new Worker(topic, (job) => this.run(topic, processor, job), {
        connection: bullConnection(this.settings.redisUrl),
        prefix: this.settings.prefix ?? 'ld',
        concurrency: this.opts.concurrency ?? 10,
        lockDuration: this.opts.lockDurationMs ?? 30_000,
        stalledInterval: this.opts.lockDurationMs ?? 30_000,
        // A job whose worker died is not a failed job: take it over however often that happens.
        maxStalledCount: 1000,
        // Completed jobs carry no information PostgreSQL does not have; keep Redis small.
        removeOnComplete: { count: 1000 },
        removeOnFail: { count: 5000 },
      });
      worker.on('error', (err) => this.logger.error({ err: { message: err.message }, topic }, 'worker error'));
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  private async run(topic: Topic, processor: Processor, job: Job): Promise<void> {
    const attempts = job.opts.attempts ?? DEFAULT_JOB_OPTIONS.attempts ?? 1;
    const ctx: JobContext = {
      job,
      logger: this.logger.child({ topic, job_id: job.id, attempt: job.attemptsMade + 1 }),
      lastAttempt: job.attemptsMade + 1 >= attempts,
    };
    try {
      await processor(job.data, ctx);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const final = !isRetryable(err) || ctx.lastAttempt;
      ctx.logger.warn({ err: { message: error.message, code: (err as AppError).code }, final }, 'job failed');
      if (!final) throw error;
      await this.opts.onExhausted?.(topic, job.data, error, ctx);
      await this.markDone(job, error.message);
      throw new UnrecoverableError(error.message);
    }
    await this.markDone(job, null);
  }

  private async markDone(job: Job, error: string | null): Promise<void> {
    await this.db('outbox')
      .where({ key: job.id })
      .update({ completed_at: this.db.fn.now(), last_error: error === null ? null : error.slice(0, 2000) });
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    this.workers.length = 0;
  }
}
