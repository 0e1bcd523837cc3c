import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Knex } from 'knex';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AppDeps } from '../app/deps';
import type { Policy } from '../records/policy';
import type { RecordQuerySource } from '../app/record-queries';
import { AppError } from '../records/errors';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { errorBody, errorHandler } from './errors';
import { findUnstorableText, findYearZeroDate } from './input-guards';
import { healthRoutes } from './health.routes';
import { apiRoutes } from './api.routes';
import { ApiAccess } from './api-auth';
import { KnexApiTokenStore } from '../db/api-tokens.repository';

export interface HttpDeps {
  readonly db: Knex;
  readonly redis: { ping(): Promise<unknown> };
  readonly app: AppDeps;
  /** The reads the API answers from (`KnexRecordQuerySource` over the same database). */
  readonly queries: RecordQuerySource;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly apiToken: string | undefined;
  /** The approval policy (its retention section: the win-back follow-up of a declined offer). */
  readonly policy?: Pick<Policy, 'retention_offers'>;
  /** Extra route plugins (webhooks), registered after the core routes. */
  readonly plugins?: readonly ((app: FastifyInstance) => void | Promise<void>)[];
  /** Raw handlers that take over a path before Fastify parses the body (Slack's Bolt receiver). */
  readonly rawHandlers?: ReadonlyMap<string, (req: IncomingMessage, res: ServerResponse) => void>;
}

export async function buildHttpApp(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Per-request access logs cost more than the work on the hot webhook path; refusals are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    serverFactory: (handler) =>
      createServer((req, res) => {
        const raw = deps.rawHandlers?.get((req.url ?? '').split('?')[0]!);
        if (!raw) return handler(req, res);
        // A raw handler that throws fails its own request (500), never the process.
        try {
          raw(req, res);
        } catch (err) {
          deps.logger.error({ err: { message: (err as Error).message } }, 'request handler failed');
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
          res.end(JSON.stringify(errorBody('internal', 'Internal error; it has been logged')));
        }
      }),
  });
  // Route schemas are zod schemas (fastify-type-provider-zod): Fastify validates params, query and
  // body before the handler and hands it the parsed values; a refusal is a 422 naming each field.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  // Paths, query strings and JSON bodies with text the database cannot store (NUL, a lone UTF-16
  // surrogate) are refused here, naming where, before any route queries with them.
  app.addHook('preValidation', async (req) => {
    const where =
      findUnstorableText(req.params, 'path') ??
      findUnstorableText(req.query, 'query') ??
      (req.body !== null && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? findUnstorableText(req.body) : null);
    if (where)
      throw new AppError('unsupported_payload', `${where.field || 'the body'} ${where.message}`, {
        problems: [{ field: where.field, message: where.message }],
      });
    const yearZero = req.body !== null && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? findYearZeroDate(req.body) : null;
    if (yearZero) throw new AppError('validation_failed', `${yearZero.field}: ${yearZero.message}`, { problems: [yearZero] });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send(errorBody('not_found', `No route ${req.method} ${req.url.split('?')[0]}`)));
  app.addHook('onResponse', async (req, reply) => {
    deps.metrics.httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    if (reply.statusCode >= 400) req.log.info({ method: req.method, route: req.routeOptions.url, status: reply.statusCode }, 'request refused');
  });
  // Every /api route authenticates through this one object (per-caller tokens, API_TOKEN as bootstrap admin).
  app.decorate('apiAccess', new ApiAccess({ db: deps.db, tokens: new KnexApiTokenStore(deps.db), clock: deps.app.clock, bootstrapToken: deps.apiToken }));
  healthRoutes(app, deps);
  apiRoutes(app, { queries: deps.queries, apiToken: deps.apiToken, app: deps.app, metrics: deps.metrics, policy: deps.policy ?? {} });
  for (const p of deps.plugins ?? []) await app.register(async (scope) => p(scope));
  await app.ready();
  return app;
}
