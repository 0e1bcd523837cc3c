import { Queue } from 'bullmq';
import type { ConnectionOptions, DefaultJobOptions } from 'bullmq';
import type { Redis, RedisOptions } from 'ioredis';
import { ALL_TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';

/**
 * Retries back off exponentially (1 s, 2 s, 4 s … about 17 min in all); completed and failed
 * jobs are trimmed so Redis memory stays flat. The durable record of what happened is in
 * PostgreSQL (outbox, audit trail, idempotency keys), not in Redis.
 */
export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
};

export interface QueueSettings {
  readonly redisUrl: string;
  /** Key prefix; tests use a unique one per file so queues never collide. */
  readonly prefix?: string;
}

/**
 * Connection options (not a shared client) so each BullMQ object owns and closes its own
 * connections. `maxRetriesPerRequest: null` keeps blocking commands from being cut off by retries.
 */
export function bullConnection(redisUrl: string): ConnectionOptions {
  const u = new URL(redisUrl);
  const opts: RedisOptions = {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return opts as ConnectionOptions;
}

/** One BullMQ queue per outbox topic, sharing one connection. */
export class QueueRegistry {
  private readonly queues = new Map<Topic, Queue>();

  constructor(readonly settings: QueueSettings) {}

  get(topic: Topic): Queue {
    let q = this.queues.get(topic);
    if (!q) {
      q = new Queue(topic, {
        connection: bullConnection(this.settings.redisUrl),
        prefix: this.settings.prefix ?? 'ld',
        defaultJobOptions: DEFAULT_JOB_OPTIONS,
      });
      this.queues.set(topic, q);
    }
    return q;
  }

  all(): Queue[] {
    return ALL_TOPICS.map((t) => this.get(t));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }
}

/**
 * Redis may evict keys under memory pressure unless its policy is `noeviction`; an evicted job
 * is a lost side effect, so the service refuses to start on such a Redis.
 */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const res = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const policy = res[1];
  if (policy !== undefined && policy !== 'noeviction') {
    throw new Error(
      `Redis maxmemory-policy is "${policy}", which can silently drop queued jobs. ` +
        'Set it to noeviction: `redis-cli CONFIG SET maxmemory-policy noeviction` (and `maxmemory-policy noeviction` in redis.conf).',
    );
  }
}
