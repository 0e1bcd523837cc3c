import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Cluster, Redis } from 'ioredis';
import type { Knex } from 'knex';
import { WebClient } from '@slack/web-api';
import { ConfigError, maskCredentials } from './config';
import type { Config } from './config';
import { readJsonFile } from './config/files';
import { parseCatalog } from './records/catalog';
import type { Catalog } from './records/catalog';
import { parsePolicy, policyGroups } from './records/policy';
import { parseReasons } from './records/reasons';
import type { ReasonTaxonomy } from './records/reasons';
import { parseClocks } from './records/clocks';
import type { Clocks } from './records/clocks';
import { configFile } from './config/files';
import type { Policy } from './records/policy';
import type { BillingProvider } from './records/ports';
import type { AppDeps } from './app/deps';
import { assertRestrictedRole, createDb, inspectRole } from './db/connection';
import { KnexTransactionRunner } from './db/store';
import { buildHttpApp } from './http/server';
import { isIntakeDatabaseFailure } from './http/errors';
import { zendeskRoutes } from './http/zendesk.routes';
import { stripeRoutes } from './http/stripe.routes';
import { reportRoutes } from './http/reports.routes';
import { dashboardRoutes, loadDashboardAssets } from './http/dashboard.routes';
import { incidentRoutes } from './http/incidents.routes';
import { decideIncidentBatch } from './app/incidents';
import { IncidentNotifier } from './integrations/slack/incident.notifier';
import { incidentProcessors } from './jobs/incident.processors';
import { KnexReportsSource } from './db/reports.queries';
import { KnexBusinessFigures } from './db/metrics.queries';
import { KnexRecordQuerySource } from './db/record.queries';
import { BusinessMetrics } from './observability/business-metrics';
import { recordExternalChange } from './app/reconcile-external-change';
import { IngestBatcher } from './app/ingest-batcher';
import { ALL_TOPICS, TOPICS } from './app/topics';
import { ingestTickets } from './app/ingest-ticket';
import { createLogger } from './observability/logger';
import type { Logger } from './observability/logger';
import { Metrics } from './observability/metrics';
import { parseFieldMap } from './integrations/zendesk/field-map';
import type { FieldMap } from './integrations/zendesk/field-map';
import { problemLabels, zendeskInbound } from './integrations/zendesk/inbound';
import { ZendeskClient, zendeskBaseUrl, zendeskTicketUrl } from './integrations/zendesk/zendesk.client';
import { createSlackApp, SLACK_EVENTS_PATH } from './integrations/slack/slack.app';
import { SlackRoles, parseSlackRoleMap } from './integrations/slack/slack.roles';
import type { SlackApp } from './integrations/slack/slack.app';
import { SlackDirectory } from './integrations/slack/slack.directory';
import { checkSlackToken, requiredSlackScopes } from './integrations/slack/slack.scopes';
import type { SlackBotIdentity } from './integrations/slack/slack.app';
import { SlackNotifier } from './integrations/slack/slack.notifier';
import { LedgerBillingProvider } from './integrations/billing/ledger.provider';
import { EmailTemplates, catalogDisplayNames } from './integrations/email/templates';
import { SmtpEmailSender } from './integrations/email/smtp.sender';
import { ALL_QUEUES, QUEUES, QueueRegistry, assertNoEviction, resolveQueueNames } from './jobs/queues';
import type { QueueName, RedisClient } from './jobs/queues';
import { perMinuteLimit } from './jobs/worker';
import type { QueueLimit } from './jobs/worker';
import { OutboxRelay } from './jobs/outbox.relay';
import { WorkerPool } from './jobs/worker';
import { buildExhaustedHandler, buildProcessors } from './jobs/processors';
import { reminderCanceller, slackProcessors } from './jobs/slack.processors';
import { zendeskProcessors } from './jobs/zendesk.processors';
import { scheduleWatchdog, watchdogProcessors } from './jobs/watchdog.processor';
import { retentionProcessors, scheduleRetention } from './jobs/retention.processor';
import { KnexPrivacyStore, KnexRetentionSource } from './db/privacy.repository';
import { parseRetention } from './records/retention';
import type { Retention } from './records/retention';
import { KnexWatchdogSource } from './db/watchdog.queries';
import { auditCheckpointJob } from './jobs/audit-checkpoint';
import { noteUnfileableTicket } from './app/note-ticket';
import type { WinBackChannel } from './app/retention-offers';
import { retentionCatalogProblems } from './records/retention-offers';
import { CustomerLinks } from './app/customer-links';
import { customerRoutes } from './http/customer.routes';
import { retentionOfferProcessors } from './jobs/retention-offers.processors';

/** Wiring only: config → db/redis → adapters → HTTP + Bolt + workers. */

/**
 * No transaction of the service waits on anything but PostgreSQL (outside calls happen between
 * transactions), so one idle this long inside a transaction is a bug: PostgreSQL ends it, and the
 * job or request fails visibly instead of holding a pooled connection and its row locks.
 */
export const IDLE_IN_TRANSACTION_MS = 5000;

/** A ticket sync waits at most this long for a record passing through a state to settle (see syncTicketRun). */
export const SYNC_SETTLE_MS = 10_000;

export const systemClock = { now: () => new Date() };
export const uuidIds = { newId: () => randomUUID() };

export function loadCatalog(config: Config): Catalog {
  return parseCatalog(readJsonFile(config.catalogFile, 'plan catalog', 'CATALOG_FILE'), config.catalogFile);
}
export function loadPolicy(config: Config): Policy {
  return parsePolicy(readJsonFile(config.policyFile, 'approval policy', 'POLICY_FILE'), config.policyFile);
}
export function loadFieldMap(config: Config): FieldMap {
  return parseFieldMap(readJsonFile(config.zendesk.fieldMapFile, 'Zendesk field map', 'ZENDESK_FIELD_MAP_FILE'), config.zendesk.fieldMapFile);
}
export const loadReasons = (config: Config): ReasonTaxonomy => configFile(config.reasonsFile, 'reason taxonomy', 'REASONS_FILE', parseReasons);
export const loadClocks = (config: Config): Clocks => configFile(config.clocksFile, 'clocks file', 'CLOCKS_FILE', parseClocks);
export const loadRetention = (config: Config): Retention => configFile(config.retention.file, 'retention file', 'RETENTION_FILE', parseRetention);

export interface StartOptions {
  readonly logger?: Logger;
  /** Serve HTTP (webhooks, Slack, API). Default true. */
  readonly web?: boolean;
  /** Run the outbox relay and the job workers. Default true. */
  readonly worker?: boolean;
  /** Listen on config.http.port (false: build the app without listening). */
  readonly listen?: boolean;
  /**
   * Only these queues in this process (default: all), so e.g. billing can be scaled or isolated
   * apart from email. Queue names (`records`, `billing`, `email`, `zendesk`, `slack`) or topics
   * (`billing.apply`), each meaning its queue.
   */
  readonly queues?: readonly string[];
  /** Run the outbox relay in this process (default: when it runs workers; any number of relays may run, also in a process of their own). */
  readonly relay?: boolean;
}

export interface Service {
  readonly http: FastifyInstance | null;
  readonly db: Knex;
  readonly redis: RedisClient;
  readonly logger: Logger;
  readonly queues: QueueRegistry;
  readonly relay: OutboxRelay | null;
  /** Stops accepting work, finishes what is in flight, closes connections. Idempotent. */
  stop(): Promise<void>;
}

/** Every variable a mode needs that is not set, so start-up can name them all at once. */
export function missingSettings(config: Config, web: boolean, worker: boolean): string[] {
  const missing: string[] = [];
  const need = (ok: unknown, name: string) => void (ok ? undefined : missing.push(name));
  if (web) {
    need(config.zendesk.webhookSecrets.length, 'ZENDESK_WEBHOOK_SECRET');
    need(config.slack.signingSecret, 'SLACK_SIGNING_SECRET');
    need(config.slack.botToken, 'SLACK_BOT_TOKEN');
    // Changes made in the Stripe Dashboard must reach the accounts table; without the endpoint they would not.
    if (config.billing.provider === 'stripe') need(config.billing.stripeWebhookSecret, 'STRIPE_WEBHOOK_SECRET');
    // The sidebar's tokens name the account (subdomain) and an agent the service confirms through the Users API.
    if (config.zaf.sharedSecrets.length) {
      need(config.zendesk.subdomain, 'ZENDESK_SUBDOMAIN');
      need(config.zendesk.email, 'ZENDESK_EMAIL');
      need(config.zendesk.apiToken, 'ZENDESK_API_TOKEN');
    }
  }
  if (worker) {
    need(config.zendesk.subdomain || config.zendesk.apiUrl, 'ZENDESK_SUBDOMAIN (or ZENDESK_API_URL)');
    need(config.zendesk.email, 'ZENDESK_EMAIL');
    need(config.zendesk.apiToken, 'ZENDESK_API_TOKEN');
    need(config.slack.botToken, 'SLACK_BOT_TOKEN');
    need(config.slack.approvalChannel, 'SLACK_APPROVAL_CHANNEL');
    need(config.email.smtpUrl, 'SMTP_URL');
    if (config.billing.provider === 'webhook') {
      need(config.billing.webhookUrl, 'BILLING_WEBHOOK_URL');
      need(config.billing.webhookSecret, 'BILLING_WEBHOOK_SECRET');
    }
    if (config.billing.provider === 'stripe') need(config.billing.stripeApiKey, 'STRIPE_API_KEY');
  }
  return [...new Set(missing)];
}

/** The billing provider BILLING_PROVIDER names (the worker's, and `reconcile`'s). */
export async function billingProvider(config: Config, db: Knex): Promise<BillingProvider> {
  switch (config.billing.provider) {
    case 'ledger':
      return new LedgerBillingProvider(db);
    case 'webhook': {
      const { WebhookBillingProvider } = await import('./integrations/billing/webhook.provider');
      return new WebhookBillingProvider({ url: config.billing.webhookUrl!, secret: config.billing.webhookSecret! });
    }
    case 'stripe': {
      const { stripeProviderFromConfig } = await import('./integrations/billing/stripe.config');
      return stripeProviderFromConfig(config);
    }
  }
}

/** /api/zaf/* for the Zendesk sidebar app (served when ZAF_SHARED_SECRET is set). */
async function zafPlugin(config: Config, db: Knex, app: AppDeps, fieldMap: FieldMap, policy: Policy): Promise<(scope: FastifyInstance) => void> {
  const { zafRoutes } = await import('./http/zaf.routes');
  const { verifyZafToken } = await import('./integrations/zendesk/zaf-jwt');
  const { ZendeskAgentDirectory, parseZafRoleMap } = await import('./integrations/zendesk/zaf-directory');
  const { KnexSummarySource } = await import('./db/summary.queries');
  const { QuoteSigner } = await import('./app/preview-record');
  const { problemFields } = await import('./integrations/zendesk/inbound');
  const roles = parseZafRoleMap(readJsonFile(config.zaf.rolesFile, 'Zendesk role map', 'ZAF_ROLES_FILE'), config.zaf.rolesFile);
  // Its own client: an agent waits on this call, so it gives up sooner than the ticket-sync jobs' client.
  const users = new ZendeskClient({
    baseUrl: zendeskBaseUrl(config.zendesk.subdomain, config.zendesk.apiUrl)!,
    email: config.zendesk.email!,
    apiToken: config.zendesk.apiToken!,
    timeoutMs: 5000,
    maxAttempts: 2,
  });
  const secrets = config.zaf.sharedSecrets;
  const subdomain = config.zendesk.subdomain!;
  return (scope) =>
    zafRoutes(scope, {
      app: { ...app, quotes: new QuoteSigner(secrets[0]!, 'zaf'), policy },
      verify: (authorization, now) => verifyZafToken({ token: authorization, secrets, subdomain, now }),
      directory: new ZendeskAgentDirectory(users, roles, app.clock),
      summaries: new KnexSummarySource(db),
      summaryContext: { catalog: app.catalog, fields: problemFields(fieldMap) },
      fieldMap,
      catalog: app.catalog,
    });
}

/** A zod error as one line per problem; anything else as its message. */
function describe(err: unknown): string {
  const issues = (err as { issues?: { path: PropertyKey[]; message: string }[] }).issues;
  if (Array.isArray(issues)) return issues.map((i) => `${i.path.map(String).join('.') || '(file)'}: ${i.message}`).join('; ');
  return (err as Error).message ?? String(err);
}

/** Runs a step that reads configuration (files, maps); whatever it throws is a configuration error (exit 2). */
async function configStep<T>(what: string, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const message = describe(err);
    throw new ConfigError([message.startsWith(what) ? message : `${what}: ${message}`]);
  }
}

const within = <T>(ms: number, what: string, p: Promise<T>): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });

/**
 * Starts what `opts` asks for. Everything that can be checked before connecting is checked first
 * (variables, files, queue names) and refused as a ConfigError (exit 2); then connections are
 * opened, each registered for closing, so a start-up that fails part-way (Redis unreachable or
 * evicting, the port taken) closes what it opened and returns instead of hanging on open handles.
 */
export async function startService(config: Config, opts: StartOptions = {}): Promise<Service> {
  const web = opts.web ?? true;
  const worker = opts.worker ?? true;
  const missing = missingSettings(config, web, worker);
  if (missing.length) throw new ConfigError([`Cannot start ${[web && 'web', worker && 'worker'].filter(Boolean).join(' + ')}: set ${missing.join(', ')}`]);
  const resolved = resolveQueueNames(opts.queues ?? []);
  if (resolved.unknown.length) {
    throw new ConfigError([
      `--queues: unknown queue(s) ${resolved.unknown.join(', ')}; known: ${ALL_QUEUES.join(', ')} (or a job topic: ${ALL_TOPICS.join(', ')})`,
    ]);
  }
  const selectedQueues: readonly QueueName[] | undefined = opts.queues ? resolved.queues : undefined;
  if (config.jobs.redisCluster && !/^\{.+\}$/.test(config.jobs.queuePrefix)) {
    throw new ConfigError([
      `QUEUE_PREFIX: on a Redis Cluster (REDIS_CLUSTER=true) the prefix must be a hash tag such as {ld}, so each queue's keys share one slot; got ${config.jobs.queuePrefix}`,
    ]);
  }
  const runRelay = opts.relay ?? worker;
  const logger = opts.logger ?? createLogger(config.logLevel);
  // Configuration files are read and validated before anything connects.
  const catalog = await configStep('CATALOG_FILE', () => loadCatalog(config));
  const policy = await configStep('POLICY_FILE', () => {
    const p = loadPolicy(config);
    const problems = retentionCatalogProblems(p.retention_offers, catalog);
    if (problems.length) throw new ConfigError(problems.map((m) => `POLICY_FILE ${config.policyFile}: ${m}`));
    return p;
  });
  const fieldMap = await configStep('ZENDESK_FIELD_MAP_FILE', () => loadFieldMap(config));
  const reasons = await configStep('REASONS_FILE', () => loadReasons(config));
  const clocks = await configStep('CLOCKS_FILE', () => loadClocks(config));
  const retention = worker ? await configStep('RETENTION_FILE', () => loadRetention(config)) : null;
  const labels = problemLabels(fieldMap);
  const templates = worker
    ? await configStep('EMAIL_TEMPLATES_DIR', () => EmailTemplates.load(config.email.templatesDir, { displayNames: catalogDisplayNames(catalog) }))
    : null;

  // Closed in reverse order if start-up fails part-way.
  const opened: (() => unknown)[] = [];
  const closeOpened = async () => {
    for (const close of opened.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => undefined);
  };
  try {
    const db = createDb(config.databaseUrl, {
      acquireTimeoutMs: 3000,
      statementTimeoutMs: 8000,
      idleInTransactionTimeoutMs: IDLE_IN_TRANSACTION_MS,
      poolMax: 20,
      logger,
      restrictedRoleOnly: true,
    });
    opened.push(() => db.destroy());
    const slackClient = config.slack.botToken
      ? new WebClient(config.slack.botToken, {
          ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
          // Jobs never sleep on Slack: a 429 rejects at once and the slack queue waits it out
          // (jobs/worker.ts); any other failure is the job's to retry.
          retryConfig: { retries: 0 },
          rejectRateLimitedCalls: true,
        })
      : null;
    // These read their files and keys but connect nowhere yet.
    const billing = worker
      ? await configStep(config.billing.provider === 'stripe' ? 'STRIPE_PRICE_MAP_FILE' : 'BILLING_PROVIDER', () => billingProvider(config, db))
      : null;
    const checkpoints = worker ? await configStep('AUDIT_SIGNING_KEY', () => auditCheckpointJob(config, db, slackClient, logger)) : null;

    await checkDatabaseRole(db, logger);
    const redis = serviceRedis(config);
    redis.on('error', (err) => logger.warn({ err: { message: err.message } }, 'redis connection error'));
    opened.push(() => redis.disconnect());
    await redis.connect().catch((err: Error) => {
      throw new Error(`REDIS_URL: cannot connect to ${maskCredentials(config.redisUrl)}: ${err.message}`, { cause: err });
    });
    await configStep('REDIS_URL', () => within(5000, 'REDIS_URL', assertNoEviction(redis)));
    const slackRoleMap = web
      ? await configStep('SLACK_ROLES_FILE', () =>
          parseSlackRoleMap(readJsonFile(config.slack.rolesFile, 'Slack role map', 'SLACK_ROLES_FILE'), config.slack.rolesFile),
        )
      : null;
    const slackGroups = [...policyGroups(policy), ...Object.keys(slackRoleMap?.user_groups ?? {})];
    const identity = config.slack.botToken ? await checkSlack(config, requiredSlackScopes({ web, worker, approverGroups: slackGroups }), logger) : undefined;

    const metrics = new Metrics();
    const app: AppDeps = { store: new KnexTransactionRunner(db), clock: systemClock, ids: uuidIds, catalog, reasons };
    const queues = new QueueRegistry({ redisUrl: config.redisUrl, prefix: config.jobs.queuePrefix, cluster: config.jobs.redisCluster });
    opened.push(() => queues.close());
    const ticketUrl = zendeskTicketUrl(config.zendesk.subdomain);
    const customerLinks = config.customerLinks ? new CustomerLinks(config.customerLinks.secret, config.customerLinks.publicBaseUrl) : null;

    let http: FastifyInstance | null = null;
    let slackApp: SlackApp | null = null;
    let reportsDb: Knex | null = null;
    let metricsDb: Knex | null = null;
    // The reads the API and the Slack app answer from, through app-level queries (src/app/record-queries.ts).
    const queries = new KnexRecordQuerySource(db);
    if (web) {
      const slackDirectory = new SlackDirectory(slackClient!);
      slackApp = createSlackApp({
        decideIncidentBatch: (input) => decideIncidentBatch({ ...app, policy, directory: slackDirectory }, input),
        botToken: config.slack.botToken!,
        signingSecret: config.slack.signingSecret!,
        appToken: config.slack.appToken,
        apiUrl: config.slack.apiUrl,
        queries,
        app,
        directory: slackDirectory,
        roles: new SlackRoles(slackRoleMap!, slackDirectory),
        logger,
        ticketUrl,
        approverGroups: policyGroups(policy),
        onDecided: reminderCanceller(queues, db),
        ...(identity ? { identity } : {}),
      });
      const rawHandlers = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
      if (slackApp.requestListener) rawHandlers.set(SLACK_EVENTS_PATH, slackApp.requestListener);
      const inbound = zendeskInbound(config.zendesk.webhookSecrets, fieldMap);
      // Four batches at a time: four pooled connections, the rest left for the API, Slack and health checks.
      const intakeBatcher = new IngestBatcher((intakes) => ingestTickets({ ...app, labels }, intakes), {
        maxConcurrent: 4,
        failsWholeBatch: isIntakeDatabaseFailure,
        onBatch: (size) => metrics.intakeBatchSize.observe(size),
      });
      const plugins: ((scope: FastifyInstance) => void)[] = [
        (scope) =>
          zendeskRoutes(scope, {
            clock: app.clock,
            inbound,
            metrics,
            ingest: (intake) => intakeBatcher.submit(intake),
            refuse: (ticketId, problems) => noteUnfileableTicket(app, ticketId, problems, labels),
          }),
      ];
      if (config.billing.stripeWebhookSecret) {
        const { planOfPrice, readStripePriceMap } = await import('./integrations/billing/stripe.config');
        const planOf = planOfPrice(readStripePriceMap(config));
        const secret = config.billing.stripeWebhookSecret;
        plugins.push((scope) => stripeRoutes(scope, { secret, planOf, metrics, handle: (change) => recordExternalChange(app, change) }));
      }
      // Read at scrape time from the primary (a lagging replica could hide a confirmation behind the
      // settled totals), through a small pool of their own: the first read goes over all history.
      const mdb = createDb(config.databaseUrl, { acquireTimeoutMs: 3000, statementTimeoutMs: 120_000, poolMax: 2, logger, restrictedRoleOnly: true });
      metricsDb = mdb;
      opened.push(() => mdb.destroy());
      new BusinessMetrics(new KnexBusinessFigures(mdb), metrics.registry).warm((err) =>
        logger.warn({ err: { message: err.message } }, 'business metrics: reading history failed; retried at the next scrape'),
      );
      // Reports read through a pool of their own (a replica when REPORTS_DATABASE_URL is set), so a heavy report never takes intake's connections.
      const rdb = createDb(config.reportsDatabaseUrl, { acquireTimeoutMs: 3000, statementTimeoutMs: 30_000, poolMax: 4, logger, restrictedRoleOnly: true });
      reportsDb = rdb;
      opened.push(() => rdb.destroy());
      const reports = { source: new KnexReportsSource(rdb), clock: app.clock, clocks, reasons };
      plugins.push((scope) => reportRoutes(scope, { reports }));
      plugins.push((scope) => incidentRoutes(scope, { db, incidents: { ...app, policy } }));
      const dashboard = loadDashboardAssets();
      plugins.push((scope) => dashboardRoutes(scope, dashboard));
      if (customerLinks) {
        const links = customerLinks;
        plugins.push((scope) => customerRoutes(scope, { store: app.store, clock: app.clock, links, policy }));
      }
      if (config.zaf.sharedSecrets.length) plugins.push(await configStep('ZAF_ROLES_FILE', () => zafPlugin(config, db, app, fieldMap, policy)));
      http = await buildHttpApp({ db, queries, redis, app, logger, metrics, apiToken: config.apiToken, policy, rawHandlers, plugins });
      const httpApp = http;
      opened.push(() => httpApp.close());
      const bolt = slackApp;
      await bolt.start();
      opened.push(() => bolt.stop());
    }

    let relay: OutboxRelay | null = null;
    let workers: WorkerPool | null = null;
    let sender: SmtpEmailSender | null = null;
    if (worker) {
      const zendesk = new ZendeskClient({
        baseUrl: zendeskBaseUrl(config.zendesk.subdomain, config.zendesk.apiUrl)!,
        email: config.zendesk.email!,
        apiToken: config.zendesk.apiToken!,
      });
      const notifier = new SlackNotifier(slackClient!, db, config.slack.approvalChannel!, ticketUrl);
      const smtp = new SmtpEmailSender({ smtpUrl: config.email.smtpUrl!, from: config.email.from, replyTo: config.email.replyTo });
      sender = smtp;
      opened.push(() => smtp.close());
      const processors = buildProcessors({
        apply: { ...app, billing: billing! },
        email: {
          store: app.store,
          clock: app.clock,
          sender: smtp,
          renderer: templates!,
          messageIdDomain: 'lifecycle-desk',
          ...(config.email.channel === 'zendesk_comment' ? { publicReplies: zendesk } : {}),
          ...(customerLinks ? { customerLinks } : {}),
          sendLeaseMs: config.jobs.lockDurationMs * 2,
          onMarkRetry: (err, attempt) =>
            logger.warn({ err: { message: (err as Error).message }, attempt }, 'email sent but not yet marked sent; retrying until PostgreSQL answers'),
        },
        policy: { ...app, policy, billing: billing! },
        extra: {
          ...zendeskProcessors({
            app,
            client: zendesk,
            fieldMap,
            labels,
            solveOnConfirm: config.solveTicketOnConfirm,
            syncDelayMs: config.jobs.zendeskSyncDelayMs,
            syncSettleMs: SYNC_SETTLE_MS,
          }),
          ...slackProcessors(notifier),
          ...incidentProcessors({ notifier: new IncidentNotifier(slackClient!, db, config.slack.approvalChannel!), app }),
          ...watchdogProcessors({ source: new KnexWatchdogSource(db), clock: app.clock, clocks }),
          ...retentionOfferProcessors({ ...app, policy, winBack: winBackChannel(policy, zendesk, notifier) }),
          ...retentionProcessors({ source: new KnexRetentionSource(db), privacy: new KnexPrivacyStore(db), clock: app.clock, retention: retention! }),
        },
      });
      const pool = new WorkerPool(db, queues, processors, logger, {
        concurrency: config.jobs.concurrency,
        lockDurationMs: config.jobs.lockDurationMs,
        ...(selectedQueues ? { queues: selectedQueues } : {}),
        limits: queueLimits(config),
        onExhausted: buildExhaustedHandler(app, (id, problem) => notifier.alert(id, problem), { ...app, policy, billing: billing! }),
      });
      workers = pool;
      opened.push(() => pool.stop());
      await pool.start();
      if (pool.queueNames().includes(QUEUES.records)) {
        await scheduleWatchdog(queues, config.watchdogIntervalMs);
        if (config.retention.intervalMs > 0) await scheduleRetention(queues, config.retention.intervalMs);
      }
      if (checkpoints) {
        checkpoints.start();
        opened.push(() => checkpoints.stop());
      }
    }
    if (runRelay) {
      const r = new OutboxRelay(db, queues, logger, config.databaseUrl, {
        reconcileEveryMs: config.jobs.reconcileIntervalMs,
        reconcileAfterMs: config.jobs.reconcileAfterMs,
        topicDelayMs: { [TOPICS.zendeskSync]: config.jobs.zendeskSyncDelayMs },
      });
      relay = r;
      opened.push(() => r.stop());
      await r.start();
    }

    if (http && (opts.listen ?? true)) {
      await http.listen({ port: config.http.port, host: config.http.host }).catch((err: NodeJS.ErrnoException) => {
        throw new Error(
          err.code === 'EADDRINUSE'
            ? `PORT: ${config.http.host}:${config.http.port} is already in use by another process`
            : `cannot listen on ${config.http.host}:${config.http.port}: ${err.message}`,
          { cause: err },
        );
      });
    }
    logger.info({ port: http ? config.http.port : null, web, worker, relay: !!relay, queues: workers?.queueNames() ?? [] }, 'lifecycle-desk started');

    let stopping: Promise<void> | null = null;
    const [rdbOpen, mdbOpen] = [reportsDb as Knex | null, metricsDb as Knex | null];
    const httpApp = http;
    const bolt = slackApp;
    return {
      http,
      db,
      redis,
      logger,
      queues,
      relay,
      stop() {
        stopping ??= (async () => {
          // Stop taking new work first, then let in-flight jobs finish, then close connections.
          if (httpApp) await httpApp.close();
          await bolt?.stop();
          checkpoints?.stop();
          await relay?.stop();
          await workers?.stop();
          sender?.close();
          await queues.close();
          await Promise.allSettled([db.destroy(), redis.quit(), rdbOpen?.destroy(), mdbOpen?.destroy()]);
          logger.info('lifecycle-desk stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await closeOpened();
    throw err;
  }
}

/** Where the policy sends win-back follow-ups: a Zendesk ticket or a reminder in the approval channel. */
function winBackChannel(policy: Policy, zendesk: ZendeskClient, notifier: SlackNotifier): WinBackChannel | null {
  const via = policy.retention_offers?.win_back?.via;
  if (via === 'zendesk')
    return { via, createFollowUp: (f) => zendesk.createFollowUpTicket({ key: f.key, subject: f.subject, body: f.body, tags: ['lifecycle_winback'] }) };
  if (via === 'slack') return { via, createFollowUp: async (f) => ({ ...(await notifier.remind(`${f.subject}. ${f.body}`)), created: true }) };
  return null;
}

/**
 * The process's own Redis client for health checks and start-up checks: fails fast (one retry,
 * no offline queue) where BullMQ's connections wait. A Cluster when REDIS_CLUSTER is set.
 */
function serviceRedis(config: Config): RedisClient {
  const opts = { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 };
  if (!config.jobs.redisCluster) return new Redis(config.redisUrl, { ...opts, lazyConnect: true, connectionName: 'lifecycle-desk:service' });
  const u = new URL(config.redisUrl);
  return new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
    lazyConnect: true,
    enableOfflineQueue: false,
    redisOptions: {
      ...opts,
      connectionName: 'lifecycle-desk:service',
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    },
  });
}

/**
 * Each outside system's published limit, as its queue's limiter (across every worker process):
 * Zendesk `ZENDESK_RATE_LIMIT_PER_MIN` (Professional: 400/min); Slack one post per second per
 * channel (approvals and alerts go to one channel); Stripe 25 requests/s with a test key, 100/s
 * live; the billing webhook as Stripe live. Work on our own database and SMTP have no limiter.
 */
export function queueLimits(config: Config): Partial<Record<QueueName, QueueLimit>> {
  const stripeTest = config.billing.provider === 'stripe' && /^(sk|rk)_test_/.test(config.billing.stripeApiKey ?? '');
  return {
    [QUEUES.zendesk]: perMinuteLimit(config.jobs.zendeskRatePerMin),
    [QUEUES.slack]: { max: 1, duration: 1000 },
    ...(config.billing.provider === 'ledger' ? {} : { [QUEUES.billing]: { max: stripeTest ? 25 : 100, duration: 1000 } }),
  };
}

/**
 * Refuses (exit 2) a DATABASE_URL that could undo the database's guards. When the database cannot
 * be reached now, start-up goes on (webhooks answer 503 until it is back) and every new
 * connection makes the same check before it is used.
 */
async function checkDatabaseRole(db: Knex, logger: Logger): Promise<void> {
  try {
    assertRestrictedRole(await within(4000, 'DATABASE_URL', inspectRole(db)));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    logger.warn({ err: { message: (err as Error).message } }, 'cannot reach PostgreSQL to check its role now; each connection checks it when made');
  }
}

/**
 * Checks the bot token's scopes against what this process needs. A token Slack refuses, or one
 * missing a scope, stops start-up (exit 2); a Slack that cannot be reached does not (each click
 * then fails closed on its own).
 */
async function checkSlack(config: Config, required: readonly string[], logger: Logger): Promise<SlackBotIdentity | undefined> {
  try {
    return await checkSlackToken({ token: config.slack.botToken!, apiUrl: config.slack.apiUrl }, required);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    logger.warn({ err: { message: (err as Error).message } }, 'cannot reach Slack to check the bot token scopes now; approvals fail closed until it answers');
    return undefined;
  }
}
