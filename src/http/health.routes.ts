import type { FastifyInstance } from 'fastify';
import type { Knex } from 'knex';
import type { Metrics } from '../observability/metrics';
import { RETRY_AFTER } from './errors';

const within = <T>(ms: number, p: Promise<T>): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });

export function healthRoutes(app: FastifyInstance, deps: { db: Knex; redis: { ping(): Promise<unknown> }; metrics: Metrics }): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const check = async (p: () => Promise<unknown>) => {
      try {
        await within(2000, p());
        return 'ok';
      } catch (err) {
        return `unavailable: ${(err as Error).message}`;
      }
    };
    const [postgres, redis] = await Promise.all([check(() => deps.db.raw('SELECT 1')), check(() => deps.redis.ping())]);
    const ready = postgres === 'ok' && redis === 'ok';
    if (!ready) void reply.header('retry-after', RETRY_AFTER);
    return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: { postgres, redis } });
  });

  app.get('/metrics', async (_req, reply) => {
    return reply.header('content-type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
