import { Queue } from 'bullmq';
import type { DefaultJobOptions } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { TOPICS } from '../app/topics';
import type { Topic } from '../app/topics';

/**
 * Retries back off exponentially (1 s, 2 s, 4 s … about 17 min in all); completed and failed
 * jobs are trimmed so Redis memory stays flat. The durable record of what happened is in
 * PostgreSQL (outbox, audit trail, idempotency keys), not in Redis. A rate limit (429) uses no
 * attempt: the worker turns it into the queue's delay (see worker.ts).
 */
export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
};

/**
 * One queue per outside system, plus one for work that touches only our database. A queue's
 * limiter is that system's published limit, so however many workers run, no system is called
 * faster than it allows; a worker process holds one blocking Redis connection per queue, so the
 * number of queues (not of job types) sets its connection count.
 */
export const QUEUES = {
  /** Only our database: record.advance (policy, auto-approval, ledger), the watchdog, the retention purge, retention discount credits. */
  records: 'records',
  /** The billing provider (Stripe, the billing webhook; with the ledger, local work). */
  billing: 'billing',
  /** The SMTP server. */
  email: 'email',
  /** The Zendesk API: ticket syncs, notes, ticket reads. */
  zendesk: 'zendesk',
  /** The Slack Web API: approval requests, their updates, alerts. */
  slack: 'slack',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];
export const ALL_QUEUES: readonly QueueName[] = Object.values(QUEUES);

const QUEUE_OF: Record<Topic, QueueName> = {
  [TOPICS.recordAdvance]: QUEUES.records,
  [TOPICS.policyEvaluate]: QUEUES.records,
  [TOPICS.watchdogScan]: QUEUES.records,
  [TOPICS.retentionPurge]: QUEUES.records,
  [TOPICS.retentionCredit]: QUEUES.records,
  [TOPICS.retentionWinBackTicket]: QUEUES.zendesk,
  [TOPICS.retentionWinBackReminder]: QUEUES.slack,
  [TOPICS.billingApply]: QUEUES.billing,
  [TOPICS.billingUnschedule]: QUEUES.billing,
  [TOPICS.emailSend]: QUEUES.email,
  [TOPICS.zendeskFetch]: QUEUES.zendesk,
  [TOPICS.zendeskSync]: QUEUES.zendesk,
  [TOPICS.zendeskNote]: QUEUES.zendesk,
  [TOPICS.approvalRequest]: QUEUES.slack,
  [TOPICS.approvalUpdate]: QUEUES.slack,
  [TOPICS.slackAlert]: QUEUES.slack,
  [TOPICS.incidentApproval]: QUEUES.slack,
  [TOPICS.incidentProgress]: QUEUES.slack,
};

/** The queue a topic's jobs run on. */
export const queueOf = (topic: Topic): QueueName => QUEUE_OF[topic];

/**
 * `--queues` names: queue names, or (as before there were fewer queues) topic names, each meaning
 * its queue. Unknown names are returned for the caller to refuse.
 */
export function resolveQueueNames(names: readonly string[]): { queues: QueueName[]; unknown: string[] } {
  const queues = new Set<QueueName>();
  const unknown: string[] = [];
  for (const n of names) {
    if ((ALL_QUEUES as readonly string[]).includes(n)) queues.add(n as QueueName);
    else if (n in reverseTopics) queues.add(QUEUE_OF[n as Topic]);
    else unknown.push(n);
  }
  return { queues: [...queues], unknown };
}
const reverseTopics: Record<string, true> = Object.fromEntries(Object.values(TOPICS).map((t) => [t, true]));

/**
 * The job id of an outbox row: its key, except ticket syncs, which run once per record at a
 * time whatever the number of versions that asked for one (the job reads the latest state).
 */
export function jobIdOf(topic: string, key: string, payload: Record<string, unknown>): string {
  if (topic === TOPICS.zendeskSync && typeof payload.record_id === 'string') return `zendesk-sync.${payload.record_id}`;
  return key;
}

export interface QueueSettings {
  readonly redisUrl: string;
  /**
   * Key prefix. On Redis Cluster it must be a hash tag (`{ld}`, the default), so every key of a
   * queue lands in one slot, as BullMQ's Lua scripts require. Tests use a unique one per file.
   */
  readonly prefix?: string;
  /** REDIS_URL names one node of a Redis Cluster; the client discovers the rest. */
  readonly cluster?: boolean;
}

export type RedisClient = Redis | Cluster;

function redisOptions(redisUrl: string): RedisOptions {
  const u = new URL(redisUrl);
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * A Redis client for BullMQ: `maxRetriesPerRequest: null` keeps blocking commands from being cut
 * off by retries. On a cluster, an ioredis Cluster seeded with REDIS_URL's node.
 */
export function createQueueRedis(settings: Pick<QueueSettings, 'redisUrl' | 'cluster'>, name = 'lifecycle-desk'): RedisClient {
  const opts = redisOptions(settings.redisUrl);
  if (settings.cluster) {
    const { host, port, db: _db, ...rest } = opts;
    return new Cluster([{ host: host!, port: port! }], { redisOptions: { ...rest, maxRetriesPerRequest: null, connectionName: name }, enableReadyCheck: true });
  }
  return new Redis({ ...opts, maxRetriesPerRequest: null, enableReadyCheck: true, connectionName: name });
}

/** The default queue prefix: a hash tag, so the same setting works on one Redis and on a cluster. */
export const DEFAULT_PREFIX = '{ld}';

/**
 * The process's queues, all on one shared Redis connection (Queue objects only issue short
 * commands). Workers each get their own blocking connection (see WorkerPool). `get` takes a
 * queue name or a topic (meaning the topic's queue).
 */
export class QueueRegistry {
  private readonly queues = new Map<QueueName, Queue>();
  private shared: RedisClient | null = null;

  constructor(readonly settings: QueueSettings) {}

  get prefix(): string {
    return this.settings.prefix ?? DEFAULT_PREFIX;
  }

  /** The shared connection (created on first use). */
  connection(): RedisClient {
    this.shared ??= createQueueRedis(this.settings, `${this.prefix}:queues`);
    return this.shared;
  }

  get(name: QueueName | Topic): Queue {
    const queue = (ALL_QUEUES as readonly string[]).includes(name) ? (name as QueueName) : queueOf(name as Topic);
    if (!queue) throw new Error(`unknown queue or topic ${name}`);
    let q = this.queues.get(queue);
    if (!q) {
      q = new Queue(queue, { connection: this.connection(), prefix: this.prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
      this.queues.set(queue, q);
    }
    return q;
  }

  all(): Queue[] {
    return ALL_QUEUES.map((q) => this.get(q));
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
    const s = this.shared;
    this.shared = null;
    if (s) await s.quit().catch(() => s.disconnect());
  }
}

/**
 * Redis may evict keys under memory pressure unless its policy is `noeviction`; an evicted job
 * is a lost side effect, so the service refuses to start on such a Redis.
 */
export async function assertNoEviction(redis: RedisClient): Promise<void> {
  const res = (await redis.config('GET', 'maxmemory-policy')) as unknown as string[];
  const policy = res[1];
  if (policy !== undefined && policy !== 'noeviction') {
    throw new Error(
      `Redis maxmemory-policy is "${policy}", which can silently drop queued jobs. ` +
        'Set it to noeviction: `redis-cli CONFIG SET maxmemory-policy noeviction` (and `maxmemory-policy noeviction` in redis.conf).',
    );
  }
}
