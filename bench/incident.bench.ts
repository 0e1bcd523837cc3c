import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { loadConfig } from '../src/config';
import { startService } from '../src/main';
import { createLogger } from '../src/observability/logger';
import { startStandins } from '../devtools/standins';
import { FakeStripe } from '../devtools/stripe.standin';
import { KnexAccountRepository } from '../src/db/accounts.repository';
import { KnexTransactionRunner } from '../src/db/store';
import { AccountSchema } from '../src/records/accounts';
import { parseCatalog } from '../src/records/catalog';
import { parsePolicy } from '../src/records/policy';
import { createQueueRedis } from '../src/jobs/queues';
import { createIncident, decideIncidentBatch } from '../src/app/incidents';
import type { IncidentDeps } from '../src/app/incidents';
import { createDb, freshDatabase } from './lib';

/**
 * bench:incident — one incident over BENCH_ACCOUNTS (10,000) accounts:
 *  1. the time to create the batch (every credit computed, validated, risk-flagged, filed as a
 *     record with its audit event, one batch), against a baseline in the same run: the same number
 *     of rows bulk-inserted into a bare table in one transaction;
 *  2. the time to decide it (one approval moves every record to approved);
 *  3. the time to apply it with the ledger: the normal jobs (billing.apply, email.send to a real
 *     SMTP server, confirm) until every record is confirmed, against a no-op BullMQ worker draining
 *     the same number of jobs (2 per record);
 *  4. the same through the Stripe stand-in with its request rate limit on (BENCH_STRIPE_RATE per
 *     second, default 100 as Stripe live mode), over BENCH_STRIPE_ACCOUNTS accounts (default all):
 *     the floor is the Stripe requests the credits needed divided by the rate. Aim: within 10% of it.
 */

const DAY = 86_400_000;
const CURRENCIES = ['EUR', 'USD', 'JPY', 'GBP'] as const;
const seconds = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;

async function main() {
  const n = Number(process.env.BENCH_ACCOUNTS ?? 10_000);
  // On a busy machine the apply phases can run over fewer accounts than the batch that is timed
  // being created and decided (that batch is then rejected rather than applied).
  const applyN = Number(process.env.BENCH_APPLY_ACCOUNTS ?? n);
  const stripeN = Number(process.env.BENCH_STRIPE_ACCOUNTS ?? applyN);
  const rate = Number(process.env.BENCH_STRIPE_RATE ?? 100);
  const { url, appUrl, drop } = await freshDatabase('lifecycle_desk_bench_incident');
  const stack = await startStandins();
  const stripe = await FakeStripe.start();
  const db = createDb(url, { poolMax: 5 });
  const appDb = createDb(appUrl, { poolMax: 10 });
  const prefix = `ld-bench-incident-${Date.now()}`;
  const priceMap = path.join(os.tmpdir(), `ld-bench-prices-${randomUUID()}.json`);
  fs.writeFileSync(priceMap, JSON.stringify({}));
  try {
    const termStart = new Date(Math.floor((Date.now() - 70 * DAY) / DAY) * DAY);
    const account = (id: string, i: number, customer: string | null, region: string) =>
      AccountSchema.parse({
        id,
        name: `Customer ${i}`,
        plan_id: i % 3 === 0 ? 'business' : 'growth',
        currency: CURRENCIES[i % 4],
        mrr_minor: 100_000,
        billing_customer_id: customer,
        contacts: [`billing@c${i}.example`],
        tags: [`region:${region}`],
        term_start: termStart.toISOString(),
        term_end: new Date(termStart.getTime() + 365 * DAY).toISOString(),
      });
    const repo = new KnexAccountRepository(db);
    await repo.upsertMany(Array.from({ length: n }, (_, i) => account(`acc_l_${i}`, i, null, 'ledger')));
    if (applyN !== n) await repo.upsertMany(Array.from({ length: applyN }, (_, i) => account(`acc_a_${i}`, i, null, 'apply')));
    await repo.upsertMany(
      Array.from({ length: stripeN }, (_, i) =>
        account(`acc_s_${i}`, i, stripe.addCustomer({ id: `cus_bench_${i}`, currency: CURRENCIES[i % 4]!.toLowerCase() }).id, 'stripe'),
      ),
    );

    const catalog = parseCatalog(JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'catalog.example.json'), 'utf8')), 'catalog');
    const policy = parsePolicy(JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'policy.example.json'), 'utf8')), 'policy');
    const deps: IncidentDeps = {
      store: new KnexTransactionRunner(appDb),
      clock: { now: () => new Date() },
      ids: { newId: () => randomUUID() },
      catalog,
      policy,
    };
    const directory = { emailOf: async () => 'sup1@acme.example', groupsOf: async () => [] };
    const incident = (reference: string, region: string) =>
      createIncident(
        deps,
        {
          reference,
          starts_at: new Date(termStart.getTime() + 5 * DAY).toISOString(),
          ends_at: new Date(termStart.getTime() + 5 * DAY + 6 * 3_600_000).toISOString(),
          service: 'Public API',
          requested_by: 'agent@support.example',
          accounts: { region },
        },
        { role: 'agent', id: 'agent@support.example' },
      );

    // Baseline: the same number of rows bulk-inserted into a bare table, in one transaction.
    await db.raw('CREATE TABLE bench_rows (id uuid primary key, account_id text not null, amount_minor bigint not null, data jsonb not null)');
    const b0 = process.hrtime.bigint();
    await db.transaction(async (trx) => {
      for (let i = 0; i < n; i += 500) {
        await trx('bench_rows').insert(
          Array.from({ length: Math.min(500, n - i) }, (_, k) => ({
            id: randomUUID(),
            account_id: `acc_l_${i + k}`,
            amount_minor: 990,
            data: JSON.stringify({ i: i + k }),
          })),
        );
      }
    });
    const baseInsert = seconds(b0);

    const c0 = process.hrtime.bigint();
    const posted = await incident('BENCH-LEDGER', 'ledger');
    const createSeconds = seconds(c0);
    if (posted.records_created !== n) throw new Error(`expected ${n} records, got ${posted.records_created}`);
    const d0 = process.hrtime.bigint();
    const decided = await decideIncidentBatch(
      { ...deps, directory },
      applyN === n
        ? { batchId: posted.batch!.id, decision: 'approve_all', approverId: 'U0LDSUP01' }
        : { batchId: posted.batch!.id, decision: 'reject', reason: 'benchmark', approverId: 'U0LDSUP01' },
    );
    const decideSeconds = seconds(d0);
    if (decided.status !== 'decided') throw new Error(`decision: ${JSON.stringify(decided)}`);
    const applyRegion = applyN === n ? 'ledger' : 'apply';
    if (applyN !== n) {
      const a = await incident('BENCH-APPLY', 'apply');
      await decideIncidentBatch({ ...deps, directory }, { batchId: a.batch!.id, decision: 'approve_all', approverId: 'U0LDSUP01' });
    }

    // Baseline for applying: a no-op BullMQ worker draining 2 jobs per record (billing, email).
    const jobs = applyN * 2;
    const q = new Queue('bench-noop', { connection: createQueueRedis({ redisUrl: 'redis://127.0.0.1:6379' }), prefix });
    for (let i = 0; i < jobs; i += 1000)
      await q.addBulk(
        Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({
          name: 'noop',
          data: { i: i + k },
          opts: { jobId: `noop-${i + k}`, removeOnComplete: true },
        })),
      );
    let done = 0;
    let allDone!: () => void;
    const finished = new Promise<void>((resolve) => (allDone = resolve));
    const n0 = process.hrtime.bigint();
    const w = new Worker(
      'bench-noop',
      async () => {
        if (++done === jobs) allDone();
      },
      { connection: createQueueRedis({ redisUrl: 'redis://127.0.0.1:6379' }), prefix, concurrency: 10 },
    );
    await finished;
    const baseJobs = seconds(n0);
    await w.close();
    await q.obliterate({ force: true }).catch(() => undefined);
    await q.close();

    const confirmed = async (region: string) =>
      Number(
        (
          await db('lifecycle_records as r')
            .join('accounts as a', 'a.id', 'r.account_id')
            .where('r.state', 'confirmed')
            .whereRaw('a.tags \\? ?', [`region:${region}`])
            .count<{ n: string }[]>('* as n')
        )[0]!.n,
      );
    const drain = async (env: Record<string, string>, region: string, total: number, limitS: number) => {
      const config = loadConfig({ ...stack.env, DATABASE_URL: appUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', QUEUE_PREFIX: prefix, ...env });
      const t0 = process.hrtime.bigint();
      const workers = await startService(config, { web: false, logger: createLogger('silent') });
      const deadline = Date.now() + limitS * 1000;
      while ((await confirmed(region)) < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const s = seconds(t0);
      await workers.stop();
      const got = await confirmed(region);
      if (got < total) throw new Error(`only ${got} of ${total} credits confirmed within ${limitS} s`);
      return s;
    };
    const ledgerSeconds = await drain({ BILLING_PROVIDER: 'ledger' }, applyRegion, applyN, 1800);

    // Through the Stripe stand-in, rate-limited.
    const sPosted = await incident('BENCH-STRIPE', 'stripe');
    await decideIncidentBatch({ ...deps, directory }, { batchId: sPosted.batch!.id, decision: 'approve_all', approverId: 'U0LDSUP01' });
    stripe.requests.length = 0;
    stripe.rateLimited = 0;
    stripe.limitRate(rate);
    const stripeSeconds = await drain(
      { BILLING_PROVIDER: 'stripe', STRIPE_API_KEY: stripe.apiKey, STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`, STRIPE_PRICE_MAP_FILE: priceMap },
      'stripe',
      stripeN,
      3600,
    );
    const accepted = stripe.requests.filter((r) => r.status !== 429).length;
    const floor = accepted / rate;

    console.log(`incident benchmark: ${n} accounts (${CURRENCIES.join('/')}, growth and business), one 6-hour incident`);
    console.log(`  baseline, ${n} rows bulk-inserted in one transaction: ${baseInsert.toFixed(2)} s`);
    console.log(
      `  create the batch (compute, validate, risk-flag, file ${n} records + audit, 1 batch): ${createSeconds.toFixed(2)} s = ${(n / createSeconds).toFixed(0)} credits/s (ratio to baseline ${(createSeconds / baseInsert).toFixed(1)}×)`,
    );
    console.log(
      `  decide it (1 decision → ${decided.approved || decided.rejected} records ${decided.approved ? 'approved' : 'rejected'}, audited): ${decideSeconds.toFixed(2)} s`,
    );
    console.log(`  baseline, no-op BullMQ worker draining ${jobs} jobs: ${baseJobs.toFixed(2)} s`);
    console.log(
      `  apply with the ledger (billing + SMTP email + confirm, ${applyN} credits): ${ledgerSeconds.toFixed(2)} s = ${(applyN / ledgerSeconds).toFixed(1)} credits/s (ratio to baseline ${(ledgerSeconds / baseJobs).toFixed(1)}×)`,
    );
    console.log(
      `  apply through the Stripe stand-in at ${rate} requests/s (${stripeN} credits, ${accepted} Stripe requests, ${stripe.rateLimited} answered 429): ${stripeSeconds.toFixed(2)} s; ` +
        `rate-limit floor ${floor.toFixed(2)} s; ratio ${(stripeSeconds / floor).toFixed(2)}   (aim ≤ 1.10)`,
    );
  } finally {
    fs.rmSync(priceMap, { force: true });
    await appDb.destroy();
    await db.destroy();
    await stripe.close();
    await stack.close();
    await drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
