import type { Knex } from 'knex';
import pg from 'pg';
import type { JobsOptions } from 'bullmq';
import type { Logger } from '../observability/logger';
import type { Topic } from '../app/topics';
import { ALL_TOPICS, TOPICS } from '../app/topics';
import { OutboxQueue } from '../db/outbox.repository';
import type { OutboxRow } from '../db/outbox.repository';
import { jobIdOf, queueOf } from './queues';
import type { QueueName, QueueRegistry } from './queues';

type JobPresence = 'unknown' | 'completed' | 'failed' | 'present';

/**
 * KEYS: the queue's completed and failed sets; ARGV[1]: the queue's key prefix (`prefix:queue:`),
 * the rest job ids. Job keys share the queue's prefix (one hash slot on a cluster, like BullMQ's
 * own scripts).
 */
const JOB_PRESENCE_SCRIPT = `
local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then out[i - 1] = 'unknown'
  elseif redis.call('ZSCORE', KEYS[1], id) then out[i - 1] = 'completed'
  elseif redis.call('ZSCORE', KEYS[2], id) then out[i - 1] = 'failed'
  else out[i - 1] = 'present' end
end
return out`;

export interface RelayOptions {
  /** Rows moved per transaction. */
  readonly batchSize?: number;
  /** Fallback poll interval when no NOTIFY arrives (ms). */
  readonly pollMs?: number;
  /** How often to look for published jobs that Redis no longer has (ms). */
  readonly reconcileEveryMs?: number;
  /** A published, unfinished job is checked against Redis once it is this old (ms). */
  readonly reconcileAfterMs?: number;
  /** Least delay per topic (ms) between publishing a job and running it (debounces ticket syncs). */
  readonly topicDelayMs?: Partial<Record<Topic, number>>;
}

/**
 * Moves committed outbox rows into BullMQ. Rows are locked with SKIP LOCKED, added to Redis with
 * their key as job id, and marked published in the same transaction: a crash before the commit
 * leaves them unpublished and they are added again (BullMQ ignores a duplicate id it still has;
 * processors are idempotent through PostgreSQL for one it has already removed). Any number of
 * relays may run side by side.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | null = null;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private reconciling: Promise<void> | null = null;
  private listener: pg.Client | null = null;
  private running = false;
  private pending: Promise<void> | null = null;
  private again = false;
  private readonly opts: Required<RelayOptions>;
  private readonly outbox: OutboxQueue;

  constructor(
    db: Knex,
    private readonly queues: QueueRegistry,
    private readonly logger: Logger,
    private readonly databaseUrl: string,
    opts: RelayOptions = {},
  ) {
    this.opts = { batchSize: 500, pollMs: 1000, reconcileEveryMs: 15_000, reconcileAfterMs: 30_000, topicDelayMs: {}, ...opts };
    this.outbox = new OutboxQueue(db);
  }

  /** Publishes one batch of due rows; returns how many were published. */
  async publishBatch(): Promise<number> {
    return this.outbox.publishBatch(this.opts.batchSize, (rows) => this.enqueue(rows));
  }

  private async enqueue(rows: OutboxRow[]): Promise<void> {
    const now = Date.now();
    const byQueue = new Map<QueueName, { name: Topic; data: Record<string, unknown>; opts: JobsOptions }[]>();
    for (const r of rows) {
      if (!ALL_TOPICS.includes(r.topic as Topic)) {
        this.logger.error({ outbox_id: r.id, topic: r.topic }, 'outbox row has an unknown topic; left for an operator');
        continue;
      }
      const topic = r.topic as Topic;
      const least = this.opts.topicDelayMs[topic] ?? 0;
      const list = byQueue.get(queueOf(topic)) ?? [];
      list.push({
        name: topic,
        data: r.payload,
        opts: {
          jobId: jobIdOf(topic, r.key, r.payload),
          delay: Math.max(least, new Date(r.available_at).getTime() - now),
          // A ticket sync's id is its record's: gone once finished, so the record's next change can add it again.
          ...(topic === TOPICS.zendeskSync ? { removeOnComplete: true, removeOnFail: true } : {}),
        },
      });
      byQueue.set(queueOf(topic), list);
    }
    await Promise.all([...byQueue].map(([queue, list]) => this.queues.get(queue).addBulk(list)));
  }

  /** Publishes until nothing is due. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.publishBatch();
      total += n;
      if (n < this.opts.batchSize) return total;
    }
  }

  /**
   * Re-adds published, unfinished jobs that Redis no longer has (a Redis restart or flush) or
   * that Redis finished without PostgreSQL knowing. Returns how many were re-added.
   */
  async reconcile(olderThanMs = this.opts.reconcileAfterMs): Promise<number> {
    let readded = 0;
    let after = '0';
    for (;;) {
      const rows = await this.outbox.inFlight(new Date(Date.now() - olderThanMs), after, this.opts.batchSize);
      if (rows.length === 0) return readded;
      after = rows[rows.length - 1]!.id;
      const known = rows.filter((r) => ALL_TOPICS.includes(r.topic as Topic));
      // One script call per queue for the whole batch ('unknown' when Redis lost the job).
      const states = await this.jobStates(known);
      const missing: OutboxRow[] = [];
      for (const [i, r] of known.entries()) {
        const state = states[i];
        if (state === 'unknown') missing.push(r);
        else if (state === 'failed' || state === 'completed') {
          // Finished in Redis but not in PostgreSQL: BullMQ gave up on it outside our processor
          // (a job whose workers kept crashing), or a worker died between the two. Run it again;
          // processors are idempotent.
          await this.queues
            .get(r.topic as Topic)
            .remove(jobIdOf(r.topic, r.key, r.payload))
            .catch(() => undefined);
          missing.push(r);
        }
      }
      if (missing.length) {
        this.logger.warn({ count: missing.length }, 're-publishing jobs Redis no longer has');
        await this.enqueue(missing);
        readded += missing.length;
      }
    }
  }

  /**
   * Where Redis stands on each row's job: 'unknown' (no job: Redis lost it, or removed it once
   * finished), 'completed', 'failed', or 'present' (waiting, delayed or running). One Lua call per
   * queue for the whole batch: O(1) per job (the job's hash and two sorted-set lookups), where
   * BullMQ's getJobState scans the wait and active lists (O(backlog) per job) and costs a command
   * of its own per row.
   */
  private async jobStates(rows: readonly OutboxRow[]): Promise<JobPresence[]> {
    const states: JobPresence[] = new Array<JobPresence>(rows.length);
    const byQueue = new Map<QueueName, number[]>();
    rows.forEach((r, i) => {
      const q = queueOf(r.topic as Topic);
      byQueue.set(q, [...(byQueue.get(q) ?? []), i]);
    });
    await Promise.all(
      [...byQueue].map(async ([queueName, indexes]) => {
        const queue = this.queues.get(queueName);
        const ids = indexes.map((i) => jobIdOf(rows[i]!.topic, rows[i]!.key, rows[i]!.payload));
        const found = (await this.queues
          .connection()
          .eval(JOB_PRESENCE_SCRIPT, 2, queue.toKey('completed'), queue.toKey('failed'), queue.toKey(''), ...ids)) as JobPresence[];
        indexes.forEach((i, n) => (states[i] = found[n] ?? 'unknown'));
      }),
    );
    return states;
  }

  /** Runs until stop(): wakes on NOTIFY from outbox inserts, polls as a fallback, reconciles periodically. */
  async start(): Promise<void> {
    this.running = true;
    try {
      this.listener = new pg.Client({ connectionString: this.databaseUrl });
      this.listener.on('notification', () => this.kick());
      this.listener.on('error', (err) => this.logger.warn({ err: { message: err.message } }, 'outbox listener error; falling back to polling'));
      await this.listener.connect();
      await this.listener.query('LISTEN outbox');
    } catch (err) {
      this.logger.warn({ err: { message: (err as Error).message } }, 'cannot LISTEN for outbox inserts; polling only');
    }
    const poll = () => {
      if (!this.running) return;
      this.kick();
      this.timer = setTimeout(poll, this.opts.pollMs);
    };
    poll();
    // One pass at a time: the next is timed from the end of the last. A pass costs one lookup per
    // unfinished job, so passes started on a fixed beat pile up exactly when a backlog (or a slow
    // machine) makes each one longer than the interval, and then starve the workers of the process.
    const reconcile = () => {
      if (!this.running) return;
      this.reconcileTimer = null;
      this.reconciling = this.reconcile()
        .then(
          () => undefined,
          (err: Error) => this.logger.error({ err: { message: err.message } }, 'outbox reconcile failed'),
        )
        .finally(() => {
          this.reconciling = null;
          if (this.running) this.reconcileTimer = setTimeout(reconcile, this.opts.reconcileEveryMs);
        });
    };
    this.reconcileTimer = setTimeout(reconcile, this.opts.reconcileEveryMs);
  }

  /** Runs a drain now, or once more after the current one (notifications coalesce). */
  kick(): void {
    if (!this.running) return;
    if (this.pending) {
      this.again = true;
      return;
    }
    this.pending = this.drain()
      .then(
        () => undefined,
        (err: Error) => this.logger.error({ err: { message: err.message } }, 'outbox relay failed; will retry'),
      )
      .finally(() => {
        this.pending = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
    await this.pending;
    await this.reconciling;
    await this.listener?.end().catch(() => undefined);
    this.listener = null;
  }
}
