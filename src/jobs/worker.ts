import { DelayedError, UnrecoverableError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from '../observability/logger';
import { AppError, RateLimitedError } from '../records/errors';
import { slackRateLimited } from '../integrations/slack/rate-limit';
import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';
import { OutboxQueue } from '../db/outbox.repository';
import { ALL_QUEUES, DEFAULT_JOB_OPTIONS, queueOf } from './queues';
import type { QueueName, QueueRegistry } from './queues';

export interface JobContext {
  readonly job: Job;
  readonly logger: Logger;
  /** True on the last attempt BullMQ will make. */
  readonly lastAttempt: boolean;
  /** The outbox row this job stands for (its key), to be completed in the job's last transaction. */
  readonly outboxKey: string;
  /**
   * Runs this same job again after `delayMs` without using an attempt (a ticket sync whose record
   * moved on while Zendesk was called). Never returns.
   */
  rearm(delayMs: number): Promise<never>;
}

/**
 * What a processor did with its outbox row: 'completed' when it marked the row done in its own
 * last transaction; otherwise the pool marks it done after the processor returns.
 */
export type ProcessorResult = 'completed' | void;

/** Validates the payload, loads current state, calls one use-case. Throws AppError with `retryable` on failure. */
export type Processor = (payload: unknown, ctx: JobContext) => Promise<ProcessorResult>;

/** Called once a job will not be retried any more (non-retryable error or attempts used up). Must be idempotent. */
export type ExhaustedHandler = (topic: Topic, payload: unknown, error: Error, ctx: JobContext) => Promise<void>;

/** BullMQ's limiter: at most `max` jobs started per `duration` ms on the queue, across every worker. */
export interface QueueLimit {
  readonly max: number;
  readonly duration: number;
}

export interface WorkerPoolOptions {
  readonly concurrency?: number;
  /** Lock held on a running job; a crashed worker's job is taken over after it expires. */
  readonly lockDurationMs?: number;
  readonly onExhausted?: ExhaustedHandler;
  /** Only these queues in this process (default: every queue some processor runs on). */
  readonly queues?: readonly QueueName[];
  /** Per queue: the outside system's published limit. */
  readonly limits?: Partial<Record<QueueName, QueueLimit>>;
  /** Concurrency per queue, where it differs from `concurrency`. */
  readonly queueConcurrency?: Partial<Record<QueueName, number>>;
}

const isRetryable = (err: unknown): boolean => (err instanceof AppError ? err.retryable : !(err instanceof UnrecoverableError));

/**
 * A limit of `perMinute` calls as BullMQ's limiter: the smallest window that keeps the rate
 * exact (400/min → 6 per 900 ms), so calls are spread over the minute instead of bursting
 * `perMinute` at its start.
 */
export function perMinuteLimit(perMinute: number): QueueLimit {
  const max = Math.max(1, Math.floor(perMinute / 60));
  return { max, duration: Math.ceil((60_000 * max) / perMinute) };
}

/**
 * One BullMQ worker per queue (one blocking Redis connection each), running the processors of
 * every topic on that queue by job name. Every job ends with its outbox row marked completed —
 * in the processor's own last transaction where it returns 'completed', else here — so the
 * relay's reconciler only re-adds jobs that are truly unfinished. A RateLimitedError (a 429)
 * pauses the whole queue for its Retry-After and puts the job back without using an attempt.
 */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly outbox: OutboxQueue;

  constructor(
    db: Knex,
    private readonly queues: QueueRegistry,
    private readonly processors: Partial<Record<Topic, Processor>>,
    private readonly logger: Logger,
    private readonly opts: WorkerPoolOptions = {},
  ) {
    this.outbox = new OutboxQueue(db);
  }

  /** The queues this pool runs workers for. */
  queueNames(): QueueName[] {
    const withProcessors = new Set((Object.keys(this.processors) as Topic[]).map(queueOf));
    return ALL_QUEUES.filter((q) => withProcessors.has(q) && (!this.opts.queues || this.opts.queues.includes(q)));
  }

  async start(): Promise<void> {
    for (const queue of this.queueNames()) {
      const limiter = this.opts.limits?.[queue];
      const worker: Worker = new Worker(queue, (job, token) => this.run(worker, job, token), {
        connection: this.queues.connection(),
        prefix: this.queues.prefix,
        concurrency: this.opts.queueConcurrency?.[queue] ?? this.opts.concurrency ?? 10,
        lockDuration: this.opts.lockDurationMs ?? 30_000,
        stalledInterval: this.opts.lockDurationMs ?? 30_000,
        // A job whose worker died is not a failed job: take it over however often that happens.
        maxStalledCount: 1000,
        // Completed jobs carry no information PostgreSQL does not have; keep Redis small.
        removeOnComplete: { count: 1000 },
        removeOnFail: { count: 5000 },
        ...(limiter ? { limiter } : {}),
      });
      worker.on('error', (err) => this.logger.error({ err: { message: err.message }, queue }, 'worker error'));
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  private async run(worker: Worker, job: Job, token: string | undefined): Promise<void> {
    const topic = job.name as Topic;
    const processor = this.processors[topic];
    const attempts = job.opts.attempts ?? DEFAULT_JOB_OPTIONS.attempts ?? 1;
    const ctx: JobContext = {
      job,
      logger: this.logger.child({ topic, job_id: job.id, attempt: job.attemptsMade + 1 }),
      lastAttempt: job.attemptsMade + 1 >= attempts,
      outboxKey: job.id!,
      rearm: async (delayMs) => {
        await job.moveToDelayed(Date.now() + delayMs, token);
        throw new DelayedError();
      },
    };
    if (!processor) {
      // A topic this process does not run, on a queue it does: leave it to a process that does.
      ctx.logger.error('no processor for this job in this process; it will be retried');
      throw new AppError('internal', `no processor for ${topic}`, { retryable: true });
    }
    let result: ProcessorResult;
    try {
      result = await processor(job.data, ctx);
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      const limited = err instanceof RateLimitedError ? err : slackRateLimited(err);
      if (limited) {
        ctx.logger.info({ system: limited.system, retry_after_ms: limited.retryAfterMs }, 'rate limited; the queue waits');
        await worker.rateLimit(limited.retryAfterMs);
        throw Worker.RateLimitError();
      }
      const error = err instanceof Error ? err : new Error(String(err));
      const final = !isRetryable(err) || ctx.lastAttempt;
      ctx.logger.warn({ err: { message: error.message, code: (err as AppError).code }, final }, 'job failed');
      if (!final) throw error;
      await this.opts.onExhausted?.(topic, job.data, error, ctx);
      await this.markDone(topic, job, error.message);
      throw new UnrecoverableError(error.message);
    }
    if (result !== 'completed') await this.markDone(topic, job, null);
  }

  private async markDone(topic: Topic, job: Job, error: string | null): Promise<void> {
    const recordId = (job.data as { record_id?: unknown } | null)?.record_id;
    if (topic === TOPICS.zendeskSync && typeof recordId === 'string') {
      // One sync job stands for every open sync row of its record.
      await this.outbox.completeTicketSyncs(recordId, error);
    } else {
      await this.outbox.complete([job.id!], error);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    this.workers.length = 0;
  }
}
