import path from 'node:path';
import { z } from 'zod';
import { maskCredentials } from './mask';

export { maskCredentials };

/**
 * The only reader of `process.env`. Everything else receives a frozen {@link Config}.
 * Parsing happens once, at start-up; an invalid value stops the process with a message
 * that names the variable and what it expects.
 */

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const url = (protocols: string[], what: string) =>
  z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    `expected ${what} (${protocols.map((p) => p + '//…').join(' or ')})`,
  );

/** The runtime role (created by `migrate`), and the owner that migrates, on a local trust-auth PostgreSQL. */
const DEFAULT_DATABASE_URL = 'postgres://lifecycle_desk_app@127.0.0.1:5432/lifecycle_desk';
const DEFAULT_MIGRATE_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/lifecycle_desk';

const repoRoot = path.resolve(__dirname, '..', '..', ...(__dirname.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []));

const EnvSchema = z.object({
  NODE_ENV: z.preprocess(emptyToUndefined, z.enum(['development', 'test', 'production']).default('development')),
  LOG_LEVEL: z.preprocess(emptyToUndefined, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
  DATABASE_URL: z.preprocess(emptyToUndefined, url(['postgres:', 'postgresql:'], 'a PostgreSQL URL').default(DEFAULT_DATABASE_URL)),
  MIGRATE_DATABASE_URL: z.preprocess(emptyToUndefined, url(['postgres:', 'postgresql:'], 'a PostgreSQL URL').optional()),
  REDIS_URL: z.preprocess(emptyToUndefined, url(['redis:', 'rediss:'], 'a Redis URL').default('redis://127.0.0.1:6379')),
  PORT: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(65535).default(3000)),
  HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
  ZENDESK_SUBDOMAIN: optionalString,
  ZENDESK_EMAIL: optionalString,
  ZENDESK_API_TOKEN: optionalString,
  ZENDESK_WEBHOOK_SECRET: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .optional()
      .transform((v) =>
        v
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : [],
      )
      .refine((v) => v.length <= 2, 'expected at most two comma-separated secrets (current,next)'),
  ),
  ZENDESK_API_URL: z.preprocess(emptyToUndefined, url(['http:', 'https:'], 'an http(s) URL').optional()),
  ZENDESK_FIELD_MAP_FILE: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'config', 'field-map.example.json'))),
  SLACK_BOT_TOKEN: optionalString,
  SLACK_SIGNING_SECRET: optionalString,
  SLACK_APP_TOKEN: optionalString,
  SLACK_APPROVAL_CHANNEL: optionalString,
  SLACK_API_URL: z.preprocess(emptyToUndefined, url(['http:', 'https:'], 'an http(s) URL').optional()),
  SMTP_URL: z.preprocess(emptyToUndefined, url(['smtp:', 'smtps:'], 'an SMTP URL').optional()),
  EMAIL_FROM: z.preprocess(emptyToUndefined, z.string().default('Lifecycle Desk <no-reply@localhost>')),
  BILLING_PROVIDER: z.preprocess(emptyToUndefined, z.enum(['ledger', 'stripe', 'webhook']).default('ledger')),
  BILLING_WEBHOOK_URL: z.preprocess(emptyToUndefined, url(['http:', 'https:'], 'an http(s) URL').optional()),
  BILLING_WEBHOOK_SECRET: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^whsec_[A-Za-z0-9+/=]{32,}$/, 'expected a Standard Webhooks secret: whsec_ followed by at least 24 bytes of base64')
      .optional(),
  ),
  STRIPE_API_KEY: optionalString,
  STRIPE_API_URL: z.preprocess(emptyToUndefined, url(['http:', 'https:'], 'an http(s) URL').optional()),
  STRIPE_PRICE_MAP_FILE: z.preprocess(emptyToUndefined, z.string().optional()),
  STRIPE_WEBHOOK_SECRET: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^whsec_\w+$/, 'expected the signing secret of your Stripe webhook endpoint (whsec_…)')
      .optional(),
  ),
  EMAIL_REPLY_TO: z.preprocess(emptyToUndefined, z.email('expected an email address, e.g. support@acme.zendesk.com').optional()),
  EMAIL_CHANNEL: z.preprocess(emptyToUndefined, z.enum(['smtp', 'zendesk_comment']).default('smtp')),
  PUBLIC_BASE_URL: z.preprocess(emptyToUndefined, url(['http:', 'https:'], 'the URL customers reach the service at').optional()),
  CUSTOMER_LINK_SECRET: z.preprocess(emptyToUndefined, z.string().min(32, 'expected at least 32 characters').optional()),
  EMAIL_TEMPLATES_DIR: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'templates', 'email'))),
  ZENDESK_SOLVE_ON_CONFIRM: z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
  ),
  ZENDESK_SYNC_DELAY_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(600_000).default(2000)),
  WORKER_CONCURRENCY: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(200).default(10)),
  JOB_LOCK_DURATION_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1000).max(600_000).default(30_000)),
  OUTBOX_RECONCILE_INTERVAL_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(100).max(3_600_000).default(15_000)),
  OUTBOX_RECONCILE_AFTER_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(0).max(3_600_000).default(30_000)),
  QUEUE_PREFIX: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^(\{[A-Za-z0-9_-]{1,40}\}|[A-Za-z0-9_-]{1,40})$/, 'letters, digits, - and _ only, optionally in braces as a Redis Cluster hash tag ({ld})')
      .default('{ld}'),
  ),
  REDIS_CLUSTER: z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
  ),
  ZENDESK_RATE_LIMIT_PER_MIN: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1).max(100_000).default(400)),
  CATALOG_FILE: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'config', 'catalog.example.json'))),
  POLICY_FILE: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'config', 'policy.example.json'))),
  API_TOKEN: z.preprocess(emptyToUndefined, z.string().min(16, 'expected at least 16 characters').optional()),
  REASONS_FILE: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'config', 'reasons.example.json'))),
  CLOCKS_FILE: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'config', 'clocks.example.json'))),
  REPORTS_DATABASE_URL: z.preprocess(emptyToUndefined, url(['postgres:', 'postgresql:'], 'a PostgreSQL URL').optional()),
  WATCHDOG_INTERVAL_MS: z.preprocess(emptyToUndefined, z.coerce.number().int().min(1000).max(3_600_000).default(60_000)),
  RETENTION_FILE: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'config', 'retention.example.json'))),
  RETENTION_INTERVAL_MS: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number()
      .int()
      .min(0)
      .max(7 * 86_400_000)
      .default(3_600_000),
  ),
  ZAF_SHARED_SECRET: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .optional()
      .transform((v) =>
        v
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : [],
      )
      .refine((v) => v.length <= 2, 'expected at most two comma-separated secrets (current,next)')
      .refine((v) => v.every((s) => s.length >= 32), 'expected at least 32 characters per secret'),
  ),
  ZAF_ROLES_FILE: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'config', 'zaf-roles.example.json'))),
  SLACK_ROLES_FILE: z.preprocess(emptyToUndefined, z.string().default(path.join(repoRoot, 'config', 'slack-roles.example.json'))),
  AUDIT_SIGNING_KEY: z.preprocess(emptyToUndefined, z.string().optional()),
  AUDIT_VERIFY_KEY: z.preprocess(emptyToUndefined, z.string().optional()),
  AUDIT_CHECKPOINT_DIR: z.preprocess(emptyToUndefined, z.string().optional()),
  AUDIT_CHECKPOINT_INTERVAL_MS: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number()
      .int()
      .min(0)
      .max(7 * 86_400_000)
      .default(3_600_000),
  ),
  SLACK_AUDIT_CHANNEL: optionalString,
});

export type Env = z.infer<typeof EnvSchema>;

export interface Config {
  readonly env: Env['NODE_ENV'];
  readonly logLevel: Env['LOG_LEVEL'];
  /** The runtime role's URL (`start`, and the admin commands other than `migrate`). */
  readonly databaseUrl: string;
  /** The owner's URL that `migrate` (and `start --migrate`) use: MIGRATE_DATABASE_URL, else DATABASE_URL when that is set, else the local default. */
  readonly migrateDatabaseUrl: string;
  readonly redisUrl: string;
  readonly http: { readonly port: number; readonly host: string };
  readonly apiToken: string | undefined;
  readonly catalogFile: string;
  readonly policyFile: string;
  readonly zendesk: {
    readonly subdomain: string | undefined;
    readonly email: string | undefined;
    readonly apiToken: string | undefined;
    readonly webhookSecrets: readonly string[];
    readonly apiUrl: string | undefined;
    readonly fieldMapFile: string;
  };
  readonly slack: {
    readonly botToken: string | undefined;
    readonly signingSecret: string | undefined;
    readonly appToken: string | undefined;
    readonly approvalChannel: string | undefined;
    readonly apiUrl: string | undefined;
    /** Which Slack user groups give which Lifecycle Desk role (/lifecycle, App Home). */
    readonly rolesFile: string;
  };
  readonly email: {
    readonly smtpUrl: string | undefined;
    readonly from: string;
    readonly templatesDir: string;
    /**
     * Reply-To of customer emails: EMAIL_REPLY_TO, else Zendesk's default support address
     * (`support@<ZENDESK_SUBDOMAIN>.zendesk.com`), so replies reach the support team; none without either.
     */
    readonly replyTo: string | undefined;
    /** `smtp`: email the account's contacts; `zendesk_comment`: post a public reply on the ticket (emailed by Zendesk, replies thread there). */
    readonly channel: Env['EMAIL_CHANNEL'];
  };
  /** Customer links (a scheduled change's email links to a page to see or cancel it): both set, or off. */
  readonly customerLinks: { readonly publicBaseUrl: string; readonly secret: string } | null;
  readonly billing: {
    readonly provider: Env['BILLING_PROVIDER'];
    readonly webhookUrl: string | undefined;
    readonly webhookSecret: string | undefined;
    readonly stripeApiKey: string | undefined;
    readonly stripeApiUrl: string | undefined;
    readonly stripePriceMapFile: string | undefined;
    /** Signing secret of the Stripe webhook endpoint that reports subscription changes (POST /webhooks/stripe). */
    readonly stripeWebhookSecret: string | undefined;
  };
  readonly jobs: {
    readonly concurrency: number;
    /** Redis key prefix of the queues; a hash tag (`{ld}`) so one setting works on a Redis Cluster. */
    readonly queuePrefix: string;
    /** REDIS_URL is a node of a Redis Cluster. */
    readonly redisCluster: boolean;
    /** Zendesk API calls per minute across every worker (the plan's published limit; Professional: 400). */
    readonly zendeskRatePerMin: number;
    /** How long a worker holds a job before another may take it over (a crashed worker's job returns after this). */
    readonly lockDurationMs: number;
    readonly reconcileIntervalMs: number;
    readonly reconcileAfterMs: number;
    /**
     * Ticket syncs wait this long after a state change, so a record that moves through several
     * states in a second updates its ticket once (Zendesk's API is rate limited per account).
     */
    readonly zendeskSyncDelayMs: number;
  };
  readonly solveTicketOnConfirm: boolean;
  /** Allowed reason codes per kind and subtype. */
  readonly reasonsFile: string;
  /** Targets of the clocks (drafts, turnaround), the watchdog's thresholds and an optional business calendar. */
  readonly clocksFile: string;
  /** Where reports read (a replica); the primary when unset. */
  readonly reportsDatabaseUrl: string;
  /** How often the watchdog looks for overdue records. */
  readonly watchdogIntervalMs: number;
  /** Retention periods (per record kind) and how often the purge runs (0: never, only `privacy purge`). */
  readonly retention: { readonly file: string; readonly intervalMs: number };
  /** The Zendesk sidebar app's side: /api/zaf/* is served when a shared secret is set. */
  readonly zaf: { readonly sharedSecrets: readonly string[]; readonly rolesFile: string };
  readonly audit: {
    /** Ed25519 private key that signs checkpoints (the database never holds it). */
    readonly signingKey: string | undefined;
    /** Ed25519 public key that checks them (derived from the signing key when unset). */
    readonly verifyKey: string | undefined;
    /** Where the periodic job writes checkpoints. */
    readonly checkpointDir: string | undefined;
    readonly checkpointIntervalMs: number;
    /** Slack channel the checkpoints are also posted to. */
    readonly slackChannel: string | undefined;
  };
}

export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Parses the environment (defaults to `process.env`) into a frozen Config, or throws ConfigError naming each bad variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const parsed = EnvSchema.safeParse(source);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = i.path.join('.');
        const raw = source[name];
        // Secrets are never echoed; any other value may be a URL with credentials, so those are masked.
        const shown = /SECRET|TOKEN|KEY/.test(name) ? '' : ` (got ${JSON.stringify(typeof raw === 'string' ? maskCredentials(raw) : (raw ?? null))})`;
        return `${name}: ${i.message}${shown}`;
      }),
    );
  }
  const e = parsed.data;
  if (!!e.PUBLIC_BASE_URL !== !!e.CUSTOMER_LINK_SECRET) {
    throw new ConfigError([
      `${e.PUBLIC_BASE_URL ? 'CUSTOMER_LINK_SECRET' : 'PUBLIC_BASE_URL'}: customer links need both PUBLIC_BASE_URL and CUSTOMER_LINK_SECRET (or neither)`,
    ]);
  }
  return deepFreeze({
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    migrateDatabaseUrl: e.MIGRATE_DATABASE_URL ?? (emptyToUndefined(source.DATABASE_URL) === undefined ? DEFAULT_MIGRATE_DATABASE_URL : e.DATABASE_URL),
    redisUrl: e.REDIS_URL,
    http: { port: e.PORT, host: e.HOST },
    apiToken: e.API_TOKEN,
    catalogFile: path.resolve(e.CATALOG_FILE),
    policyFile: path.resolve(e.POLICY_FILE),
    zendesk: {
      subdomain: e.ZENDESK_SUBDOMAIN,
      email: e.ZENDESK_EMAIL,
      apiToken: e.ZENDESK_API_TOKEN,
      webhookSecrets: e.ZENDESK_WEBHOOK_SECRET,
      apiUrl: e.ZENDESK_API_URL,
      fieldMapFile: path.resolve(e.ZENDESK_FIELD_MAP_FILE),
    },
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      approvalChannel: e.SLACK_APPROVAL_CHANNEL,
      apiUrl: e.SLACK_API_URL,
      rolesFile: path.resolve(e.SLACK_ROLES_FILE),
    },
    email: {
      smtpUrl: e.SMTP_URL,
      from: e.EMAIL_FROM,
      templatesDir: path.resolve(e.EMAIL_TEMPLATES_DIR),
      replyTo:
        e.EMAIL_REPLY_TO ??
        (e.ZENDESK_SUBDOMAIN && /^[a-z0-9-]+$/i.test(e.ZENDESK_SUBDOMAIN) ? `support@${e.ZENDESK_SUBDOMAIN.toLowerCase()}.zendesk.com` : undefined),
      channel: e.EMAIL_CHANNEL,
    },
    customerLinks: e.PUBLIC_BASE_URL && e.CUSTOMER_LINK_SECRET ? { publicBaseUrl: e.PUBLIC_BASE_URL, secret: e.CUSTOMER_LINK_SECRET } : null,
    billing: {
      provider: e.BILLING_PROVIDER,
      webhookUrl: e.BILLING_WEBHOOK_URL,
      webhookSecret: e.BILLING_WEBHOOK_SECRET,
      stripeApiKey: e.STRIPE_API_KEY,
      stripeApiUrl: e.STRIPE_API_URL,
      stripePriceMapFile: e.STRIPE_PRICE_MAP_FILE ? path.resolve(e.STRIPE_PRICE_MAP_FILE) : undefined,
      stripeWebhookSecret: e.STRIPE_WEBHOOK_SECRET,
    },
    jobs: {
      concurrency: e.WORKER_CONCURRENCY,
      queuePrefix: e.QUEUE_PREFIX,
      redisCluster: e.REDIS_CLUSTER,
      zendeskRatePerMin: e.ZENDESK_RATE_LIMIT_PER_MIN,
      lockDurationMs: e.JOB_LOCK_DURATION_MS,
      reconcileIntervalMs: e.OUTBOX_RECONCILE_INTERVAL_MS,
      reconcileAfterMs: e.OUTBOX_RECONCILE_AFTER_MS,
      zendeskSyncDelayMs: e.ZENDESK_SYNC_DELAY_MS,
    },
    solveTicketOnConfirm: e.ZENDESK_SOLVE_ON_CONFIRM,
    reasonsFile: path.resolve(e.REASONS_FILE),
    clocksFile: path.resolve(e.CLOCKS_FILE),
    reportsDatabaseUrl: e.REPORTS_DATABASE_URL ?? e.DATABASE_URL,
    watchdogIntervalMs: e.WATCHDOG_INTERVAL_MS,
    retention: { file: path.resolve(e.RETENTION_FILE), intervalMs: e.RETENTION_INTERVAL_MS },
    zaf: { sharedSecrets: e.ZAF_SHARED_SECRET, rolesFile: path.resolve(e.ZAF_ROLES_FILE) },
    audit: {
      signingKey: e.AUDIT_SIGNING_KEY,
      verifyKey: e.AUDIT_VERIFY_KEY,
      checkpointDir: e.AUDIT_CHECKPOINT_DIR ? path.resolve(e.AUDIT_CHECKPOINT_DIR) : undefined,
      checkpointIntervalMs: e.AUDIT_CHECKPOINT_INTERVAL_MS,
      slackChannel: e.SLACK_AUDIT_CHANNEL,
    },
  });
}
