import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import { buildHttpApp } from '../../src/http/server';
import type { HttpDeps } from '../../src/http/server';
import { createLogger } from '../../src/observability/logger';
import { Metrics } from '../../src/observability/metrics';
import { buildDeps } from './app';
import { KnexRecordQuerySource } from '../../src/db/record.queries';

export const API_TOKEN = 'test-api-token-0123456789';

export interface TestHttp {
  readonly app: FastifyInstance;
  readonly redis: Redis;
  readonly deps: ReturnType<typeof buildDeps>;
  close(): Promise<void>;
}

/** The real HTTP app over the given database and a real Redis, without listening on a port. */
export async function buildTestHttp(db: Knex, opts: { redisUrl?: string; extra?: Partial<HttpDeps> } = {}): Promise<TestHttp> {
  const redis = new Redis(opts.redisUrl ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  await redis.connect().catch(() => undefined);
  const deps = buildDeps(db);
  const app = await buildHttpApp({
    db,
    queries: new KnexRecordQuerySource(db),
    redis,
    app: deps,
    logger: createLogger('silent'),
    metrics: new Metrics({ defaultMetrics: false }),
    apiToken: API_TOKEN,
    ...opts.extra,
  });
  return {
    app,
    redis,
    deps,
    async close() {
      await app.close();
      redis.disconnect();
    },
  };
}

export const auth = { authorization: `Bearer ${API_TOKEN}` };
