import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import fs from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { createRecord } from '../../src/app/create-record';
import { verifyAudit } from '../../src/db/audit.queries';
import { startStandins } from '../../devtools/standins';
import type { StandinStack } from '../../devtools/standins';
import { createTestDb } from './db';
import type { TestDb } from './db';
import { buildAccount, buildRequest } from './builders';
import { buildDeps, seedAccounts } from './app';
import { WebhookReceiver } from './webhook-receiver';
import { uniquePrefix } from './redis';
import { runCli } from './cli';

/**
 * Crash tests: the worker process (relay + job workers) is killed with SIGKILL at random moments
 * while billing and email jobs run and while new records are being committed, and Redis is
 * restarted (losing every queued job) mid-run. Nothing may be lost or done twice: every approved
 * record ends confirmed, the billing system applied exactly one adjustment per record under one
 * key, and the SMTP server received exactly one email per record and outcome.
 */

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'lifecycle-desk.js');
const DAY = 86_400_000;

/** The Redis the run uses: restarted (losing every key) half-way through. */
export interface CrashRedis {
  readonly url: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Registers the crash test on the Redis `opts.redis` starts (a single server, or a cluster). */
export function crashSuite(opts: { redis: () => Promise<CrashRedis>; cluster?: boolean; kills?: number }): void {
  const KILLS = Number(process.env.CRASH_KILLS ?? opts.kills ?? 50);
  let t: TestDb;
  let redis: CrashRedis;
  let stack: StandinStack;
  let receiver: WebhookReceiver;
  const billingSecret = `whsec_${randomBytes(24).toString('base64')}`;

  beforeAll(async () => {
    if (!fs.existsSync(path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli.js'))) throw new Error('run `npm run build` first (npm test does)');
    t = await createTestDb();
    redis = await opts.redis();
    stack = await startStandins();
    receiver = await WebhookReceiver.start({ secret: billingSecret, delayMs: () => 20 + Math.floor(Math.random() * 60) });
    const now = Date.now();
    await seedAccounts(
      t.db,
      buildAccount({
        id: 'acc_crash',
        contacts: ['ops@crash.example'],
        mrr_minor: 10_000_000,
        term_start: new Date(now - 10 * DAY).toISOString(),
        term_end: new Date(now + 20 * DAY).toISOString(),
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await receiver.close();
    await stack.close();
    await redis.stop();
    await t.destroy();
  });

  function spawnWorker(env: Record<string, string>, args: string[] = []): Promise<ChildProcess> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'start', '--worker', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const onData = (b: Buffer) => {
        out += b.toString();
        if (out.includes('lifecycle-desk started')) {
          child.stdout!.off('data', onData);
          resolve(child);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
      child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${out.slice(-2000)}`)));
    });
  }

  const kill9 = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.removeAllListeners('exit');
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });

  async function submittedCredit(i: number): Promise<string> {
    const deps = buildDeps(t.db, { now: () => new Date(), set: () => undefined } as never);
    const { record } = await createRecord(deps, {
      request: buildRequest('service_credit', {
        account_id: 'acc_crash',
        // One agent per record: many credits from one agent would (rightly) wait for approval.
        requested_by: `agent-${i}@crash.example`,
        requester: { email: 'ops@crash.example' },
        details: {
          period_start: new Date(Date.now() - 3 * DAY).toISOString(),
          period_end: new Date(Date.now() - 2 * DAY).toISOString(),
          requested_credit: { amount_minor: 100 + i, currency: 'EUR' },
        },
      }),
      actor: { role: 'agent', id: `agent-${i}@crash.example` },
      onProblems: 'reject',
    });
    // The worker's policy step approves it (a small credit) — that job is crashed through too.
    return record.id;
  }

  it(`loses and duplicates nothing across ${KILLS} SIGKILLs of the worker and a Redis restart${opts.cluster ? ' (every node of a Redis Cluster)' : ''}`, async () => {
    const env = {
      ...stack.env,
      DATABASE_URL: t.url,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: opts.cluster ? `{${uniquePrefix('crash')}}` : uniquePrefix('crash'),
      ...(opts.cluster ? { REDIS_CLUSTER: 'true' } : {}),
      BILLING_PROVIDER: 'webhook',
      BILLING_WEBHOOK_URL: receiver.url,
      BILLING_WEBHOOK_SECRET: billingSecret,
      WORKER_CONCURRENCY: '4',
      JOB_LOCK_DURATION_MS: '2000',
      OUTBOX_RECONCILE_INTERVAL_MS: '500',
      OUTBOX_RECONCILE_AFTER_MS: '1000',
      LOG_LEVEL: 'info',
    };
    const ids: string[] = [];
    // A producer commits new approved records the whole time, so kills also land between a
    // commit and the relay's enqueue.
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing && i < 150; i++) {
        ids.push(await submittedCredit(i));
        await new Promise((r) => setTimeout(r, 40));
      }
    })();

    // The process that is killed runs the relay and the records (record.advance) and billing queues; a second worker process
    // (never killed) sends email and syncs tickets, as a deployment that scales billing apart would.
    const others = 'email,zendesk,slack';
    const stable = await spawnWorker(env, ['--queues', others, '--no-relay']);
    let kills = 0;
    let restartedRedis = false;
    while (kills < KILLS) {
      const child = await spawnWorker(env, ['--queues', 'records,billing']);
      await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 350)));
      await kill9(child);
      kills += 1;
      if (kills === Math.floor(KILLS / 2)) {
        await redis.restart();
        restartedRedis = true;
      }
    }
    producing = false;
    await producer;
    expect(restartedRedis).toBe(true);

    // One last worker, left alone, finishes everything.
    const finisher = await spawnWorker(env, ['--queues', 'records,billing']);
    try {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const open = await t.db('lifecycle_records').whereIn('id', ids).whereNot({ state: 'confirmed' }).count<{ n: string }[]>('* as n');
        if (Number(open[0]!.n) === 0) break;
        if (Date.now() > deadline) {
          const states = await t.db('lifecycle_records').whereIn('id', ids).select('state').count('* as n').groupBy('state');
          const why = await t.db('audit_events').where({ type: 'record.fail' }).select(t.db.raw("data->>'reason' as reason")).limit(3);
          const errors = await t.db('outbox').whereNotNull('last_error').select('topic', 'last_error').limit(5);
          throw new Error(`not all records confirmed: ${JSON.stringify(states)} ${JSON.stringify(why)} ${JSON.stringify(errors)}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await kill9(finisher);
      await kill9(stable);
    }

    expect(ids.length).toBeGreaterThan(30);
    // Billing: one adjustment per record, under exactly one idempotency key; none lost.
    const keys = receiver.keysPerRecord();
    expect(keys.size).toBe(ids.length);
    expect([...keys.values()].every((n) => n === 1)).toBe(true);
    expect(receiver.deliveries.filter((d) => !d.check.ok)).toEqual([]);
    // Email: exactly one per record and outcome, at the SMTP server.
    const perMessageId = new Map<string, number>();
    for (const m of stack.smtp.messages) perMessageId.set(m.parsed.messageId ?? randomUUID(), (perMessageId.get(m.parsed.messageId ?? '') ?? 0) + 1);
    for (const id of ids) expect(perMessageId.get(`<${id}.credit_granted@lifecycle-desk>`)).toBe(1);
    expect(stack.smtp.messages).toHaveLength(ids.length);
    expect((await verifyAudit(t.db, 'acc_crash')).broken).toBeNull();
    // The ledger posted each confirmed credit once, and agrees with the accounts table and the book.
    expect(await t.db('ledger_transactions').where({ account_id: 'acc_crash' }).count<{ n: string }[]>('* as n')).toEqual([{ n: String(ids.length) }]);
    const reconciled = await runCli(['reconcile'], env);
    expect(reconciled).toMatchObject({ code: 0, stdout: expect.stringContaining('0 differences') });
    const redeliveries = receiver.totalDuplicates();
    console.log(
      `crash test${opts.cluster ? ' (Redis Cluster)' : ''}: ${kills} SIGKILLs, 1 Redis restart, ${ids.length} records, ${redeliveries} billing re-deliveries absorbed by idempotency keys`,
    );
  }, 1_500_000);
}
