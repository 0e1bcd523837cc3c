import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { WebClient } from '@slack/web-api';
import { loadConfig, ConfigError, maskCredentials } from './config';
import type { Config } from './config';
import { createDb, migrateLatest } from './db/connection';
import { KnexTransactionRunner } from './db/store';
import { chainStatesAt, exportAudit, verifyAudit } from './db/audit.queries';
import { CheckpointKeyError, compareWithCheckpoint, generateCheckpointKeys, openCheckpoint, parseSigningKey, parseVerifyKey } from './records/checkpoint';
import type { Checkpoint } from './records/checkpoint';
import { checkpointText, createCheckpoint, postCheckpoint, writeCheckpointFile } from './jobs/audit-checkpoint';
import { createLogger } from './observability/logger';
import { guardProcess } from './observability/process-guards';
import { formatFromName, importAccounts, parseAccountsFile } from './app/import-accounts';
import { retryRecord } from './app/apply-record';
import { AppError } from './records/errors';
import { formatMoney } from './records/money';
import { DATE_INPUT_HINT, parseDateInput } from './records/dates';
import { billingProvider, loadCatalog, loadClocks, loadPolicy, loadReasons, loadRetention, startService, systemClock, uuidIds } from './main';
import { formatRetentionReport, purgeExpired } from './app/retention';
import { createIncident, retryIncidentCredit } from './app/incidents';
import { incidentStatus } from './db/incident.queries';
import { runReport } from './app/reports';
import { formatReport } from './app/report-format';
import type { ReportFormat } from './app/report-format';
import { KnexReportsSource } from './db/reports.queries';
import { REPORT_NAMES } from './records/reports';
import { allowedReasons, zendeskReasonOptions } from './records/reasons';
import { KINDS, SUBTYPES } from './records/kinds';
import { formatReconcileJson, formatReconcileTable, reconcile } from './app/reconcile';
import { KnexReconcileSource } from './db/reconcile.queries';
import { createApiToken, revokeApiToken } from './app/api-tokens';
import { KnexApiTokenStore } from './db/api-tokens.repository';
import { eraseAccount, exportAccount } from './app/privacy';
import { KnexPrivacyStore, KnexRetentionSource } from './db/privacy.repository';
import { BullJobTraces } from './jobs/job-traces';
import { QueueRegistry } from './jobs/queues';

export interface CliIo {
  readonly stdout: (s: string) => void | Promise<void>;
  readonly stderr: (s: string) => void;
  /** Environment to configure from; defaults to the process environment (read in src/config). */
  readonly env?: Record<string, string | undefined>;
  /** Resolves when the service should stop (SIGTERM/SIGINT by default). */
  readonly untilStopped?: () => Promise<void>;
}

const writeStdout = (s: string) => new Promise<void>((resolve, reject) => process.stdout.write(s, (err) => (err ? reject(err) : resolve())));

const defaultIo: CliIo = {
  stdout: writeStdout,
  stderr: (s) => void process.stderr.write(s),
  untilStopped: () =>
    new Promise((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    }),
};

/** Thrown by command actions to end with a specific exit code after printing their own message. */
class Exit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** The key that checks checkpoints: AUDIT_VERIFY_KEY, else the public half of AUDIT_SIGNING_KEY. */
function verifyKeyOf(c: Config): KeyObject {
  try {
    if (c.audit.verifyKey) return parseVerifyKey(c.audit.verifyKey);
    if (c.audit.signingKey) return createPublicKey(parseSigningKey(c.audit.signingKey));
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }
  throw new ConfigError(['AUDIT_VERIFY_KEY: set it (or AUDIT_SIGNING_KEY) to check a checkpoint; `lifecycle-desk audit keygen` prints a pair']);
}

function readCheckpoint(file: string, c: Config): Checkpoint {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError([`--checkpoint: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  const key = verifyKeyOf(c);
  try {
    return openCheckpoint(json, key);
  } catch (err) {
    if (err instanceof CheckpointKeyError) throw new AppError('validation_failed', `checkpoint ${file} cannot be trusted: ${err.message}`);
    throw err;
  }
}

const isoDateArg = (v: string): Date => {
  const d = parseDateInput(v);
  if (!d) throw new AppError('validation_failed', `--since: "${v}" is not ${DATE_INPUT_HINT}`);
  return new Date(d.instant);
};

/** Runs the lifecycle-desk command; resolves to the process exit code. */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  let config: Config | null = null;
  const cfg = (): Config => (config ??= loadConfig(io.env));

  const program = new Command('lifecycle-desk')
    .description('Zendesk + Slack lifecycle records with a tamper-evident audit trail')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void io.stdout(s), writeErr: (s) => io.stderr(s) });

  const migrate = async (c: Config) => {
    try {
      return await migrateLatest(c.migrateDatabaseUrl);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '42501') {
        throw new ConfigError([
          `MIGRATE_DATABASE_URL: ${(err as Error).message}; migrations run as the owner of the schema (e.g. postgres), not as the service's role; set MIGRATE_DATABASE_URL to the owner's URL`,
        ]);
      }
      throw err;
    }
  };

  program
    .command('migrate')
    .description('create the database if needed and apply pending migrations (as MIGRATE_DATABASE_URL)')
    .action(async () => {
      const applied = await migrate(cfg());
      await io.stdout(applied.length ? `applied ${applied.length} migration(s):\n${applied.map((m) => `  ${m}\n`).join('')}` : 'database is up to date\n');
    });

  program
    .command('start')
    .description('run the service: HTTP (webhooks, Slack, API) and the job workers; both unless one is named')
    .option('--web', 'only the HTTP side')
    .option('--worker', 'only the outbox relay and job workers')
    .option(
      '--queues <names>',
      'with --worker: only these comma-separated queues (records, billing, email, zendesk, slack; or job topics such as billing.apply)',
    )
    .option('--no-relay', 'with --worker: do not run an outbox relay in this process')
    .option(
      '--role <roles>',
      'run exactly these parts, comma-separated: web (HTTP), relay (outbox relay), worker (job workers, no relay) — to deploy them as separate processes',
    )
    .option('--migrate', 'apply pending migrations first, as MIGRATE_DATABASE_URL (the service itself runs as DATABASE_URL)')
    .action(async (opts: { web?: boolean; worker?: boolean; queues?: string; relay: boolean; role?: string; migrate?: boolean }) => {
      const c = cfg();
      const roles = opts.role
        ?.split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const badRole = roles?.find((r) => !['web', 'relay', 'worker'].includes(r));
      if (roles && (badRole !== undefined || roles.length === 0))
        throw new AppError('validation_failed', `--role: expected web, relay and/or worker, got ${badRole ?? 'nothing'}`);
      const logger = createLogger(c.logLevel);
      const unguard = guardProcess(logger);
      try {
        if (opts.migrate) await migrate(c);
        const both = !opts.web && !opts.worker;
        const parts = roles
          ? { web: roles.includes('web'), worker: roles.includes('worker'), relay: roles.includes('relay') }
          : { web: both || !!opts.web, worker: both || !!opts.worker, relay: opts.relay };
        const service = await startService(c, {
          logger,
          ...parts,
          ...(opts.queues
            ? {
                queues: opts.queues
                  .split(',')
                  .map((q) => q.trim())
                  .filter(Boolean),
              }
            : {}),
        });
        await (io.untilStopped ?? defaultIo.untilStopped!)();
        service.logger.info('shutdown requested');
        await service.stop();
      } finally {
        unguard();
      }
    });

  program
    .command('demo')
    .description('run the whole pipeline on sample tickets with stand-ins for Zendesk, Slack and SMTP, then verify the audit trail')
    .action(async () => {
      // The demo and its stand-ins are development tools (devtools/), installed with the dev dependencies.
      const { runDemo } = await import('../devtools/demo').catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'MODULE_NOT_FOUND') throw err;
        throw new AppError('validation_failed', `the demo needs the development dependencies (run \`npm ci\` without --omit=dev): ${err.message}`);
      });
      const code = await runDemo({ out: (line) => void io.stdout(line + '\n'), ...(io.env ? { env: io.env } : {}) });
      if (code !== 0) throw new Exit(code);
    });

  const audit = program.command('audit').description('verify, checkpoint or export the audit trail');
  audit
    .command('verify')
    .description('check every hash chain; exit 1 naming the first broken event (or the chain a signed checkpoint shows cut or rewritten)')
    .option('--account <id>', 'only this account')
    .option('--checkpoint <file>', 'also require every chain to extend this signed checkpoint (`audit checkpoint`)')
    .action(async (opts: { account?: string; checkpoint?: string }) => {
      const c = cfg();
      const checkpoint = opts.checkpoint === undefined ? null : readCheckpoint(opts.checkpoint, c);
      const db = createDb(c.databaseUrl, { poolMax: 2 });
      try {
        if (checkpoint) {
          const heads = checkpoint.chains.filter((h) => opts.account === undefined || h.account_id === opts.account);
          const cut = compareWithCheckpoint({ ...checkpoint, chains: heads }, await chainStatesAt(db, heads));
          if (cut) {
            io.stderr(`audit trail BROKEN: chain of account ${cut.account_id}: ${cut.problem}\n`);
            throw new Exit(1);
          }
        }
        const r = await verifyAudit(db, opts.account);
        if (r.broken) {
          const b = r.broken;
          io.stderr(`audit trail BROKEN at event ${b.event_id} (account ${b.account_id}, seq ${b.seq}): ${b.problem}\n`);
          throw new Exit(1);
        }
        const against = checkpoint ? `; every chain extends the checkpoint of ${checkpoint.created_at} (${checkpoint.chains.length} head(s))` : '';
        await io.stdout(`audit trail intact: ${r.events} event(s) in ${r.accounts} account chain(s) verified${against}\n`);
      } finally {
        await db.destroy();
      }
    });
  audit
    .command('checkpoint')
    .description('sign every chain head (seq, hash) and the time with AUDIT_SIGNING_KEY; keep the output outside the database')
    .option('--out <file>', 'write the checkpoint to this file (default: stdout)')
    .option('--slack [channel]', 'also post it to this Slack channel (default SLACK_AUDIT_CHANNEL)')
    .action(async (opts: { out?: string; slack?: string | boolean }) => {
      const c = cfg();
      if (!c.audit.signingKey) throw new ConfigError(['AUDIT_SIGNING_KEY: set it to sign checkpoints; `lifecycle-desk audit keygen` prints a key pair']);
      let key;
      try {
        key = parseSigningKey(c.audit.signingKey);
      } catch (err) {
        throw new ConfigError([(err as Error).message]);
      }
      const channel = typeof opts.slack === 'string' ? opts.slack : opts.slack ? c.audit.slackChannel : undefined;
      if (opts.slack && !channel) throw new ConfigError(['--slack: name a channel or set SLACK_AUDIT_CHANNEL']);
      if (channel && !c.slack.botToken) throw new ConfigError(['--slack: set SLACK_BOT_TOKEN to post checkpoints']);
      const db = createDb(c.databaseUrl, { poolMax: 2 });
      try {
        const cp = await createCheckpoint(db, key, new Date());
        if (opts.out) writeCheckpointFile(opts.out, cp);
        else await io.stdout(checkpointText(cp));
        if (channel)
          await postCheckpoint(
            new WebClient(c.slack.botToken, { ...(c.slack.apiUrl ? { slackApiUrl: c.slack.apiUrl } : {}), retryConfig: { retries: 2 } }),
            channel,
            cp,
          );
        io.stderr(
          `signed ${cp.chains.length} chain head(s) at ${cp.created_at} with key ${cp.key_id}${opts.out ? ` into ${opts.out}` : ''}${channel ? `; posted to ${channel}` : ''}\n`,
        );
      } finally {
        await db.destroy();
      }
    });
  audit
    .command('keygen')
    .description('print a new Ed25519 key pair for AUDIT_SIGNING_KEY (keep it off the database host) and AUDIT_VERIFY_KEY')
    .action(async () => {
      const k = generateCheckpointKeys();
      await io.stdout(`AUDIT_SIGNING_KEY=${k.signingKey}\nAUDIT_VERIFY_KEY=${k.verifyKey}\n`);
      io.stderr(`key id ${k.keyId}\n`);
    });
  audit
    .command('export')
    .description('write audit events as JSON Lines or CSV to stdout')
    .addOption(new Option('--format <format>', 'output format').choices(['jsonl', 'csv']).makeOptionMandatory())
    .option('--account <id>', 'only this account')
    .option('--since <date>', 'only events at or after this date (YYYY-MM-DD or ISO timestamp)')
    .action(async (opts: { format: 'jsonl' | 'csv'; account?: string; since?: string }) => {
      const since = opts.since === undefined ? undefined : isoDateArg(opts.since);
      const db = createDb(cfg().databaseUrl, { poolMax: 2 });
      try {
        const n = await exportAudit(
          db,
          opts.format,
          { ...(opts.account !== undefined ? { accountId: opts.account } : {}), ...(since ? { since } : {}) },
          io.stdout,
        );
        io.stderr(`exported ${n} event(s)\n`);
      } finally {
        await db.destroy();
      }
    });

  program
    .command('accounts')
    .description('manage customer accounts')
    .command('import')
    .argument('<file>', 'CSV (with header) or JSON Lines file of accounts')
    .requiredOption('--by <who>', 'who imports (the actor of every account.imported event and of the records plan or status changes file)')
    .description(
      'load or update accounts; a changed plan or status files its record (policy and approval decide); nothing is imported unless every row is valid',
    )
    .action(async (file: string, opts: { by: string }) => {
      const c = cfg();
      const format = formatFromName(file);
      let content: string;
      try {
        content = readFileSync(file, 'utf8');
      } catch (err) {
        throw new AppError('validation_failed', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      const parsed = parseAccountsFile(content, format, loadCatalog(c));
      if (!parsed.ok) {
        io.stderr(`${file}: ${parsed.errors.length} invalid row(s); nothing was imported\n`);
        for (const e of parsed.errors) io.stderr(`  line ${e.line}: ${e.message}\n`);
        throw new Exit(1);
      }
      const db = createDb(c.databaseUrl, { poolMax: 2 });
      try {
        const result = await importAccounts(
          { store: new KnexTransactionRunner(db), clock: systemClock, ids: uuidIds, catalog: loadCatalog(c), reasons: loadReasons(c) },
          parsed.accounts,
          { by: opts.by, lines: parsed.lines },
        ).catch((err: unknown) => {
          if (err instanceof AppError && err.code === 'validation_failed' && err.problems.length) {
            io.stderr(`${file}: ${err.message}\n`);
            throw new Exit(1);
          }
          throw err;
        });
        await io.stdout(`imported ${result.imported} account(s) from ${file}\n`);
        for (const r of result.records) {
          await io.stdout(
            `  line ${r.line}: ${r.account_id} changes ${r.kind === 'status_change' ? 'status' : 'plan'}: filed ${r.kind} (${r.subtype}) record ${r.record_id}, ${r.state}; the policy decides whether it needs approval\n`,
          );
        }
      } finally {
        await db.destroy();
      }
    });

  const tokens = program.command('tokens').description('per-caller API tokens: each names its caller and role (agent, supervisor, finance, admin)');
  tokens
    .command('create')
    .description('create a token and print it once (only its SHA-256 is stored)')
    .requiredOption('--name <name>', 'who the token is for: the actor the audit trail records for its calls')
    .requiredOption('--role <role>', 'agent, supervisor, finance or admin')
    .option('--expires <when>', 'expiry: a date (YYYY-MM-DD), an ISO timestamp, or a duration such as 30d or 12h')
    .option('--by <who>', 'who creates it (recorded in the audit trail)', 'cli')
    .action(async (opts: { name: string; role: string; expires?: string; by: string }) => {
      const db = createDb(cfg().databaseUrl, { poolMax: 2 });
      try {
        const { token, info } = await createApiToken({ tokens: new KnexApiTokenStore(db), clock: systemClock }, opts);
        await io.stdout(`${token}\n`);
        io.stderr(
          `created token ${info.id} for ${info.name} (${info.role}${info.expires_at ? `, expires ${info.expires_at}` : ', no expiry'}); it is shown only this once\n`,
        );
      } finally {
        await db.destroy();
      }
    });
  tokens
    .command('revoke')
    .argument('<token>', 'the token id or name (see tokens list)')
    .option('--by <who>', 'who revokes it (recorded in the audit trail)', 'cli')
    .description('revoke a token: every later call with it is refused (401)')
    .action(async (token: string, opts: { by: string }) => {
      const db = createDb(cfg().databaseUrl, { poolMax: 2 });
      try {
        const info = await revokeApiToken({ tokens: new KnexApiTokenStore(db), clock: systemClock }, { token, by: opts.by });
        await io.stdout(`revoked token ${info.id} (${info.name}, ${info.role})\n`);
      } finally {
        await db.destroy();
      }
    });
  tokens
    .command('list')
    .description('list tokens (never the tokens themselves): id, name, role, created, expires, revoked')
    .action(async () => {
      const db = createDb(cfg().databaseUrl, { poolMax: 2 });
      try {
        const now = Date.now();
        const rows = await new KnexApiTokenStore(db).list();
        const state = (t: (typeof rows)[number]) =>
          t.revoked_at
            ? `revoked ${t.revoked_at} by ${t.revoked_by}`
            : t.expires_at && Date.parse(t.expires_at) <= now
              ? `expired ${t.expires_at}`
              : t.expires_at
                ? `live until ${t.expires_at}`
                : 'live';
        await io.stdout(rows.map((t) => `${t.id}\t${t.name}\t${t.role}\tcreated ${t.created_at} by ${t.created_by}\t${state(t)}\n`).join('') || 'no tokens\n');
      } finally {
        await db.destroy();
      }
    });

  const privacy = program.command('privacy').description("a customer's personal data: erase it, or export it for a data-subject access request");
  privacy
    .command('erase')
    .description("overwrite an account's personal data (contacts, names, free text, email subjects) and audit it as privacy.erased; audit verify stays intact")
    .requiredOption('--account <id>', 'the account')
    .requiredOption('--by <who>', 'who asks for the erasure (recorded in the audit trail)')
    .requiredOption('--reason <text>', 'why: the request reference (recorded, itself erasable)')
    .action(async (opts: { account: string; by: string; reason: string }) => {
      const c = cfg();
      const db = createDb(c.databaseUrl, { poolMax: 2 });
      const queues = new QueueRegistry({ redisUrl: c.redisUrl, prefix: c.jobs.queuePrefix });
      try {
        const counts = await eraseAccount(
          { privacy: new KnexPrivacyStore(db), clock: systemClock },
          { accountId: opts.account, by: opts.by, reason: opts.reason },
        );
        await io.stdout(
          `erased account ${opts.account}: ${counts.personal_values} personal value(s), ${counts.records} record(s), ${counts.decisions} decision reason(s), ${counts.emails} email subject(s)${counts.account ? ', its name and contacts' : ''}${counts.legacy_events ? `, and personal values in ${counts.legacy_events} audit event(s) older than the side table (kept with their hashes, marked redacted)` : ''}\n`,
        );
        const recordIds = ((await db('lifecycle_records').where({ account_id: opts.account }).select('id')) as { id: string }[]).map((r) => r.id);
        try {
          // Redis down must not hang the command: the database part is done and says so below.
          const jobs = await Promise.race([
            new BullJobTraces(queues).removeFor(recordIds),
            new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer from Redis within 15 s')), 15_000).unref()),
          ]);
          await io.stdout(`removed ${jobs} finished job(s) of its records from Redis\n`);
        } catch (err) {
          io.stderr(
            `the database is erased, but finished jobs in Redis could not be removed (${maskCredentials((err as Error).message)}); run the command again when Redis is back\n`,
          );
          throw new Exit(1);
        }
      } finally {
        await Promise.race([queues.close(), new Promise<void>((resolve) => setTimeout(resolve, 5000).unref())]);
        await db.destroy();
      }
    });
  privacy
    .command('purge')
    .description("erase what has outlived its retention now (what the workers' retention job does every RETENTION_INTERVAL_MS) and report it")
    .option('--dry-run', 'only report what would be erased')
    .action(async (opts: { dryRun?: boolean }) => {
      const c = cfg();
      const retention = loadRetention(c);
      const db = createDb(c.databaseUrl, { poolMax: 2 });
      try {
        const report = await purgeExpired(
          { source: new KnexRetentionSource(db), privacy: new KnexPrivacyStore(db), clock: systemClock, retention },
          { dryRun: !!opts.dryRun },
        );
        await io.stdout(formatRetentionReport(report));
      } finally {
        await db.destroy();
      }
    });
  privacy
    .command('export')
    .description(
      "write an account's personal data as JSON to stdout: the account, its records, the side table's values, decisions, emails and its audit events",
    )
    .requiredOption('--account <id>', 'the account')
    .action(async (opts: { account: string }) => {
      const db = createDb(cfg().databaseUrl, { poolMax: 2 });
      try {
        await io.stdout(`${JSON.stringify(await exportAccount({ privacy: new KnexPrivacyStore(db), clock: systemClock }, opts.account), null, 2)}\n`);
      } finally {
        await db.destroy();
      }
    });

  program
    .command('records')
    .description('operate on lifecycle records')
    .command('retry')
    .argument('<id>', 'record id')
    .option('--by <who>', 'who asks for the retry (recorded in the audit trail)', 'cli')
    .description('send a failed record back to applying with a fresh billing job (same idempotency key)')
    .action(async (id: string, opts: { by: string }) => {
      const db = createDb(cfg().databaseUrl, { poolMax: 2 });
      try {
        const record = await retryRecord({ store: new KnexTransactionRunner(db), clock: systemClock }, id, { role: 'supervisor', id: opts.by });
        await io.stdout(`record ${record.id} is ${record.state} again (version ${record.version}); a billing job is queued\n`);
      } finally {
        await db.destroy();
      }
    });

  const incidents = program.command('incidents').description('credit every account an outage hit, with one approval');
  const list = (v: string) =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  incidents
    .command('create')
    .description('post an incident (again: only accounts not yet credited for it get a credit); prints what was filed')
    .requiredOption('--reference <ref>', 'the incident reference (posting the same one again widens it)')
    .requiredOption('--start <instant>', `when it started: ${DATE_INPUT_HINT}`)
    .requiredOption('--end <instant>', 'when it ended')
    .requiredOption('--service <name>', 'the service that failed')
    .requiredOption('--by <who>', 'the agent posting it (may not approve its credits)')
    .option('--affected-plans <ids>', 'plans the service is part of (comma-separated); default any plan')
    .option('--uptime <percent>', 'measured uptime over the billing period, for every account; default computed from the window')
    .option('--plan <ids>', 'filter: accounts on these plans (comma-separated)')
    .option('--region <names>', 'filter: accounts tagged region:<name> (comma-separated)')
    .option('--tag <tags>', 'filter: accounts with any of these tags (comma-separated)')
    .option('--accounts <ids>', 'filter: these account ids (comma-separated)')
    .option('--csv <file>', 'filter: the account_id column of this CSV file')
    .option('--reason-code <code>', 'reason code of the credits', 'outage')
    .option('--reason <text>', 'extra reason text for the credits')
    .option('--format <format>', 'text or json', 'text')
    .action(
      async (opts: {
        reference: string;
        start: string;
        end: string;
        service: string;
        by: string;
        affectedPlans?: string;
        uptime?: string;
        plan?: string;
        region?: string;
        tag?: string;
        accounts?: string;
        csv?: string;
        reasonCode: string;
        reason?: string;
        format: string;
      }) => {
        const c = cfg();
        let csv: string | undefined;
        if (opts.csv) {
          try {
            csv = readFileSync(opts.csv, 'utf8');
          } catch (err) {
            throw new AppError('validation_failed', `cannot read ${opts.csv}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
          }
        }
        const uptime = opts.uptime === undefined ? undefined : Number(opts.uptime);
        if (uptime !== undefined && !Number.isFinite(uptime)) throw new AppError('validation_failed', `--uptime: "${opts.uptime}" is not a number`);
        const body = {
          reference: opts.reference,
          starts_at: opts.start,
          ends_at: opts.end,
          service: opts.service,
          requested_by: opts.by,
          reason_code: opts.reasonCode,
          ...(opts.reason ? { reason_text: opts.reason } : {}),
          ...(opts.affectedPlans ? { plans: list(opts.affectedPlans) } : {}),
          ...(uptime !== undefined ? { measured_uptime_percent: uptime } : {}),
          accounts: {
            ...(opts.plan ? { plans: list(opts.plan) } : {}),
            ...(opts.region ? { region: list(opts.region) } : {}),
            ...(opts.tag ? { tags: list(opts.tag) } : {}),
            ...(opts.accounts ? { account_ids: list(opts.accounts) } : {}),
            ...(csv !== undefined ? { csv } : {}),
          },
        };
        const db = createDb(c.databaseUrl, { poolMax: 2 });
        try {
          const deps = {
            store: new KnexTransactionRunner(db),
            clock: systemClock,
            ids: uuidIds,
            catalog: loadCatalog(c),
            reasons: loadReasons(c),
            policy: loadPolicy(c),
          };
          const out = await createIncident(deps, body, { role: 'agent', id: opts.by });
          if (opts.format === 'json') {
            await io.stdout(`${JSON.stringify(out, null, 2)}\n`);
            return;
          }
          const totals = out.batch ? out.batch.summary.totals.map((t) => formatMoney(t)).join(', ') : 'none';
          const lines = [
            `incident ${out.incident.reference} (${out.incident.id}) ${out.created ? 'created' : 'posted again'}`,
            `credits filed: ${out.records_created}; already credited: ${out.already_credited}; not credited now: ${out.skipped_count}`,
            ...Object.entries(out.skipped_by_code).map(([code, n]) => `  ${code}: ${n}`),
            out.batch
              ? `batch ${out.batch.id}: ${out.batch.summary.accounts} account(s), totals ${totals}, ${out.batch.summary.flagged_count} flagged, ${out.batch.approvals_required} approval(s) needed in Slack`
              : 'no new credits, so no approval was requested',
          ];
          await io.stdout(lines.join('\n') + '\n');
        } finally {
          await db.destroy();
        }
      },
    );
  incidents
    .command('show')
    .argument('<id>', 'incident id or reference')
    .description("print an incident's credits counted by state (as GET /api/incidents/:id), as JSON")
    .action(async (id: string) => {
      const db = createDb(cfg().databaseUrl, { poolMax: 2 });
      try {
        const status = await incidentStatus(db, id);
        if (!status) throw new AppError('not_found', `No incident ${id} (give its id or its reference)`);
        await io.stdout(`${JSON.stringify(status, null, 2)}\n`);
      } finally {
        await db.destroy();
      }
    });
  incidents
    .command('retry')
    .argument('<id>', 'incident id or reference')
    .argument('<account>', 'the account whose credit failed')
    .option('--by <who>', 'who asks for the retry (recorded in the audit trail)', 'cli')
    .description("retry one account's failed credit alone (same idempotency keys: nothing is credited twice)")
    .action(async (id: string, account: string, opts: { by: string }) => {
      const db = createDb(cfg().databaseUrl, { poolMax: 2 });
      try {
        const record = await retryIncidentCredit({ store: new KnexTransactionRunner(db), clock: systemClock }, id, account, {
          role: 'supervisor',
          id: opts.by,
        });
        await io.stdout(`credit ${record.id} of ${account} is ${record.state} again (version ${record.version}); a billing job is queued\n`);
      } finally {
        await db.destroy();
      }
    });

  program
    .command('reconcile')
    .description(
      'list every difference between the accounts table, the ledger and the billing provider (plan, status, cancel_at, pause, balance); exit 1 when there is one',
    )
    .option('--account <id>', 'only this account')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts: { account?: string; format: 'table' | 'json' }) => {
      const c = cfg();
      const db = createDb(c.databaseUrl, { poolMax: 4 });
      try {
        const billing = await billingProvider(c, db);
        const report = await reconcile(
          { source: new KnexReconcileSource(db), billing, clock: systemClock },
          opts.account !== undefined ? { accountId: opts.account } : {},
        );
        await io.stdout(opts.format === 'json' ? formatReconcileJson(report) : formatReconcileTable(report));
        if (report.differences.length > 0) throw new Exit(1);
      } finally {
        await db.destroy();
      }
    });

  program
    .command('report')
    .argument('<name>', `one of: ${REPORT_NAMES.join(', ')}`)
    .description('print a report (the numbers GET /api/reports/<name> returns), read from REPORTS_DATABASE_URL (default DATABASE_URL)')
    .requiredOption('--from <date>', 'start, inclusive (YYYY-MM-DD or ISO timestamp)')
    .requiredOption('--to <date>', 'end: a date counts to the end of that day, a timestamp is exclusive')
    .option('--group-by <dims>', 'comma-separated dimensions (volume: kind, subtype, reason, state, agent, approver, month, account)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'))
    .action(async (name: string, opts: { from: string; to: string; groupBy?: string; format: ReportFormat }) => {
      const c = cfg();
      const deps = { clock: systemClock, clocks: loadClocks(c), reasons: loadReasons(c) };
      const db = createDb(c.reportsDatabaseUrl, { poolMax: 4, statementTimeoutMs: 120_000 });
      try {
        const report = await runReport({ ...deps, source: new KnexReportsSource(db) }, name, { from: opts.from, to: opts.to, group_by: opts.groupBy }).catch(
          (err: unknown) => {
            // A wrong name, date or dimension is a usage error: say what is expected, exit 2.
            if (err instanceof AppError && (err.code === 'validation_failed' || err.code === 'not_found')) {
              io.stderr(`error: ${err.problems.length ? err.problems.map((p) => `--${p.field.replace('_', '-')}: ${p.message}`).join('; ') : err.message}\n`);
              throw new Exit(2);
            }
            throw err;
          },
        );
        await io.stdout(formatReport(report, opts.format));
      } finally {
        await db.destroy();
      }
    });

  program
    .command('reasons')
    .description('list the reason codes of REASONS_FILE per kind and subtype, or the matching Zendesk drop-down options')
    .addOption(
      new Option('--format <format>', 'table, or zendesk: the custom_field_options of the Reason drop-down (JSON)')
        .choices(['table', 'zendesk'])
        .default('table'),
    )
    .option('--prefix <prefix>', 'with --format zendesk: the tag prefix of the options (the field map strips it)', 'lc_reason_')
    .action(async (opts: { format: 'table' | 'zendesk'; prefix: string }) => {
      const reasons = loadReasons(cfg());
      if (opts.format === 'zendesk') {
        await io.stdout(`${JSON.stringify({ ticket_field: { custom_field_options: zendeskReasonOptions(reasons, opts.prefix) } }, null, 2)}\n`);
        return;
      }
      const lines: string[] = [];
      for (const kind of KINDS) {
        for (const subtype of SUBTYPES[kind])
          lines.push(
            `${kind} ${subtype}: ${allowedReasons(reasons, kind, subtype)
              .map((o) => o.code)
              .join(', ')}`,
          );
      }
      await io.stdout(lines.join('\n') + '\n');
    });

  try {
    await program.parseAsync(argv as string[], { from: argv === process.argv ? 'node' : 'user' });
    return 0;
  } catch (err) {
    if (err instanceof Exit) return err.code;
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    // Messages may quote a connection URL; its credentials never reach the terminal.
    if (err instanceof ConfigError) {
      io.stderr(`${maskCredentials(err.message)}\n`);
      return 2;
    }
    if (err instanceof AppError) {
      io.stderr(`error (${err.code}): ${maskCredentials(err.message)}\n`);
      for (const p of err.problems ?? []) io.stderr(`  ${p.field || '(input)'}: ${maskCredentials(p.message)}\n`);
      return 1;
    }
    io.stderr(`error: ${maskCredentials((err as Error).message ?? String(err))}\n`);
    return 1;
  }
}
