import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Config } from './config';
import { readJsonFile } from './config/files';
import { parseCatalog } from './records/catalog';
import type { Catalog } from './records/catalog';
import type { AppDeps } from './app/deps';
import { createDb } from './db/connection';
import { KnexTransactionRunner } from './db/store';
import { buildHttpApp } from './http/server';
import { createLogger } from './observability/logger';
import type { Logger } from './observability/logger';
import { Metrics } from './observability/metrics';

/** Wiring only: config → db/redis → adapters → HTTP (+ Bolt and workers as they arrive). */

export const systemClock = { now: () => new Date() };
export const uuidIds = { newId: () => randomUUID() };

export function loadCatalog(config: Config): Catalog {
  return parseCatalog(readJsonFile(config.catalogFile, 'plan catalog', 'CATALOG_FILE'), config.catalogFile);
}

export interface Service {
  readonly http: FastifyInstance;
  readonly db: Knex;
  readonly redis: Redis;
  readonly logger: Logger;
  /** Stops accepting work, finishes what is in flight, closes connections. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** Listen on config.http.port (false: build the app without listening, for tests). */
  readonly listen?: boolean;
}

export async function startService(config: Config, opts: StartOptions = {}): Promise<Service> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const catalog = loadCatalog(config);
  const db = createDb(config.databaseUrl);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false });
  redis.on('error', (err) => logger.warn({ err: { message: err.message } }, 'redis connection error'));
  await redis.connect().catch((err: Error) => logger.warn({ err: { message: err.message } }, 'redis not reachable at start-up'));
  const metrics = new Metrics();
  const app: AppDeps = { store: new KnexTransactionRunner(db), clock: systemClock, ids: uuidIds, catalog };
  const http = await buildHttpApp({ db, redis, app, logger, metrics, apiToken: config.apiToken });
  if (opts.listen ?? true) {
    await http.listen({ port: config.http.port, host: config.http.host });
    logger.info({ port: config.http.port }, 'lifecycle-desk listening');
  }
  let stopping: Promise<void> | null = null;
  return {
    http,
    db,
    redis,
    logger,
    stop() {
      stopping ??= (async () => {
        await http.close();
        await Promise.allSettled([db.destroy(), redis.quit()]);
        logger.info('lifecycle-desk stopped');
      })();
      return stopping;
    },
  };
}
