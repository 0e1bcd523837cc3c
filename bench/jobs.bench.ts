import type { AddressInfo } from 'node:net';
import { Queue, QueueEvents, Worker } from 'bullmq';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { startService } from '../src/main';
import { createLogger } from '../src/observability/logger';
import { startStandins } from '../devtools/standins';
import { signZendesk } from '../src/integrations/zendesk/signature';
import { KnexAccountRepository } from '../src/db/accounts.repository';
import { AccountSchema } from '../src/records/accounts';
import { ALL_QUEUES, createQueueRedis } from '../src/jobs/queues';
import { SmtpEmailSender } from '../src/integrations/email/smtp.sender';
import { ADMIN_URL, createDb, freshDatabase, percentile } from './lib';

/**
 * Job path: auto-approved credits from webhook to confirmed — record.advance (policy, ledger,
 * applied), the customer email to a real SMTP server (then confirmed), and the ticket synced in
 * the Zendesk stand-in, where every ticket exists — against a floor measured in the same run: a
 * BullMQ worker that commits one small PostgreSQL transaction and sends one email through the
 * same pooled SMTP sender per record. Prints jobs per record (BullMQ completions, from its event
 * streams) and commits per record (`pg_stat_database.xact_commit` of the bench database, the
 * harness reading nothing there meanwhile), and fails if any job fails. Then an open loop of
 * webhooks at a fixed rate through the whole service: webhook accepted → email accepted by SMTP.
 */
async function main() {
  const records = Number(process.env.BENCH_RECORDS ?? 400);
  const rate = Number(process.env.BENCH_LATENCY_RATE ?? 20);
  const latencySeconds = Number(process.env.BENCH_LATENCY_SECONDS ?? 15);
  const dbName = 'lifecycle_desk_bench_jobs';
  const { url, appUrl, drop } = await freshDatabase(dbName);
  const stack = await startStandins();
  const db = createDb(url, { poolMax: 10 });
  const stats = new pg.Client({ connectionString: ADMIN_URL });
  await stats.connect();
  const commits = async () =>
    Number((await stats.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1', [dbName])).rows[0]!.n);
  const prefix = `{ld-bench-jobs-${Date.now()}}`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const progress = (what: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${what}\n`);
  try {
    const now = Date.now();
    await new KnexAccountRepository(db).upsertMany(
      Array.from({ length: 100 }, (_, i) =>
        AccountSchema.parse({
          id: `acc_${i}`,
          name: `Account ${i}`,
          plan_id: 'growth',
          currency: 'EUR',
          mrr_minor: 9900,
          contacts: [`ops${i}@example.com`],
          term_start: new Date(now - 10 * 86_400_000).toISOString(),
          term_end: new Date(now + 20 * 86_400_000).toISOString(),
        }),
      ),
    );
    const total = records + rate * latencySeconds;
    stack.zendesk.users.set(1, { id: 1, name: 'Ops', email: 'ops0@example.com' });
    for (let i = 0; i < total; i++) {
      stack.zendesk.users.set(1000 + i, { id: 1000 + i, name: `Agent ${i}`, email: `agent${i}@support.example` });
      stack.zendesk.addTicket({ id: 700000 + i, requester_id: 1, assignee_id: 1000 + i, tags: ['lifecycle_request'] });
    }

    progress('floor run');
    // Floor: per record, one small PostgreSQL transaction and one email through the pooled sender, as BullMQ jobs.
    await db.raw('CREATE TABLE bench_floor (id bigserial primary key, job text not null)');
    const sender = new SmtpEmailSender({ smtpUrl: stack.env.SMTP_URL!, from: 'bench@lifecycle-desk.example' });
    const floorQueue = new Queue('bench-floor', { connection: createQueueRedis({ redisUrl }), prefix });
    await floorQueue.addBulk(
      Array.from({ length: records }, (_, i) => ({ name: 'floor', data: { i }, opts: { jobId: `floor-${i}`, removeOnComplete: true } })),
    );
    let floorDone = 0;
    let floorFinished!: () => void;
    const floorAll = new Promise<void>((resolve) => (floorFinished = resolve));
    const f0 = process.hrtime.bigint();
    const floorWorker = new Worker(
      'bench-floor',
      async (job) => {
        const i = job.data.i as number;
        await db.transaction(async (trx) => {
          await trx('bench_floor').insert({ job: String(i) });
        });
        await sender.send({
          to: `ops${i % 100}@example.com`,
          subject: 'Your credit',
          text: `Credit ${i}`,
          html: `<p>Credit ${i}</p>`,
          messageId: `<floor-${i}@bench>`,
        });
        if (++floorDone === records) floorFinished();
      },
      { connection: createQueueRedis({ redisUrl }), prefix, concurrency: 10 },
    );
    await floorAll;
    const floorSeconds = Number(process.hrtime.bigint() - f0) / 1e9;
    await floorWorker.close();
    await floorQueue.obliterate({ force: true }).catch(() => undefined);
    await floorQueue.close();
    sender.close();
    stack.smtp.messages.length = 0;

    // The stand-in has no rate limit; Zendesk's would cap syncs at ZENDESK_RATE_LIMIT_PER_MIN (400/min = 6.7 records/s on Professional).
    const zendeskPerMin = process.env.BENCH_ZENDESK_PER_MIN ?? '60000';
    const config = loadConfig({
      ...stack.env,
      DATABASE_URL: appUrl,
      REDIS_URL: redisUrl,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      QUEUE_PREFIX: prefix,
      ZENDESK_RATE_LIMIT_PER_MIN: zendeskPerMin,
    });
    const credit = (i: number) =>
      JSON.stringify({
        lifecycle_desk: 1,
        ticket: {
          id: String(700000 + i),
          updated_at: new Date().toISOString(),
          tags: 'lifecycle_request',
          requester: { email: `ops${i % 100}@example.com` },
          // One agent per ticket: many credits from one agent would (rightly) raise a risk flag and wait for approval.
          assignee_email: `agent${i}@support.example`,
          fields: {
            '360001000001': 'lc_credit',
            '360001000002': 'lc_goodwill',
            '360001000003': `acc_${i % 100}`,
            '360001000004': 'goodwill',
            '360001000011': '1.00',
            '360001000012': 'EUR',
            '360001000013': new Date(now - 3 * 86_400_000).toISOString().slice(0, 10),
            '360001000014': new Date(now - 2 * 86_400_000).toISOString().slice(0, 10),
          },
        },
      });
    const deliver = async (base: string, i: number) => {
      const raw = credit(i);
      const ts = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const res = await fetch(base, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-zendesk-webhook-signature': signZendesk(stack.secrets.zendeskWebhook, ts, raw),
          'x-zendesk-webhook-signature-timestamp': ts,
        },
        body: raw,
      });
      const j = (await res.json()) as { record_id?: string; state?: string };
      if (j.state !== 'submitted') throw new Error(`unexpected ingest result ${JSON.stringify(j)}`);
      return j.record_id!;
    };
    const ticketsDone = (from: number, to: number) => {
      for (let i = from; i < to; i++) if (stack.zendesk.tickets.get(700000 + i)!.status !== 'solved') return false;
      return true;
    };

    progress('submitting records (web only)');
    // Throughput: the records are submitted first (web only), then workers alone drain the pipeline.
    const web = await startService(config, { worker: false, logger: createLogger('silent') });
    const webUrl = `http://127.0.0.1:${(web.http!.server.address() as AddressInfo).port}/webhooks/zendesk`;
    let next = 0;
    const c0 = await commits();
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < records) await deliver(webUrl, next++);
      }),
    );
    await web.stop();
    await sleep(1500); // pg_stat_database is flushed about once a second
    const c1 = await commits();

    // BullMQ's own count of jobs run, from each queue's event stream.
    const events = ALL_QUEUES.map((q) => new QueueEvents(q, { connection: createQueueRedis({ redisUrl }), prefix }));
    await Promise.all(events.map((e) => e.waitUntilReady()));
    const completed = new Map<string, number>();
    const failed: string[] = [];
    for (const [i, e] of events.entries()) {
      e.on('completed', ({ jobId }) => {
        completed.set(ALL_QUEUES[i]!, (completed.get(ALL_QUEUES[i]!) ?? 0) + 1);
        if (process.env.BENCH_DEBUG) progress(`completed ${ALL_QUEUES[i]} ${jobId}`);
      });
      e.on('failed', ({ jobId, failedReason }) => failed.push(`${ALL_QUEUES[i]}:${jobId}: ${failedReason}`));
    }
    progress('full job path (workers only)');
    const t1 = Date.now();
    const workers = await startService(config, { web: false, logger: createLogger('silent') });
    const deadline = Date.now() + 300_000;
    while ((stack.smtp.messages.length < records || !ticketsDone(0, records)) && Date.now() < deadline) await sleep(10);
    const fullSeconds = (Date.now() - t1) / 1000;
    if (stack.smtp.messages.length < records || !ticketsDone(0, records))
      throw new Error(`only ${stack.smtp.messages.length} of ${records} emails (and not every ticket solved) within 300 s`);
    // Let the last jobs' final transactions and the stats flush land before counting.
    await sleep(1500);
    const c2 = await commits();
    await workers.stop();
    const perQueueCounts = new Map(completed);
    const jobs = [...perQueueCounts.values()].reduce((a, b) => a + b, 0);
    const confirmed = Number((await db('lifecycle_records').where({ state: 'confirmed' }).count<{ n: string }[]>('* as n'))[0]!.n);
    const errors = await db('outbox').whereNotNull('last_error').select('topic', 'key', 'last_error').limit(5);
    const open = await db('outbox').whereNull('completed_at').whereNot({ topic: 'approval.request' }).count<{ n: string }[]>('* as n');
    if (failed.length || errors.length || confirmed !== records || Number(open[0]!.n) !== 0) {
      throw new Error(
        `job path failed: ${failed.length} failed jobs ${JSON.stringify(failed.slice(0, 5))}, outbox errors ${JSON.stringify(errors)}, ${confirmed}/${records} confirmed, ${open[0]!.n} rows open`,
      );
    }

    progress('open-loop latency run');
    // Latency: an open loop at `rate` webhooks/s through the whole service, webhook sent → email accepted by SMTP.
    stack.smtp.messages.length = 0;
    const service = await startService(config, { logger: createLogger('silent') });
    const fullUrl = `http://127.0.0.1:${(service.http!.server.address() as AddressInfo).port}/webhooks/zendesk`;
    const sentAt = new Map<string, number>();
    const arrivals = rate * latencySeconds;
    const start = Date.now();
    const inflight: Promise<void>[] = [];
    for (let k = 0; k < arrivals; k++) {
      const due = start + (k * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      const t = Date.now();
      inflight.push(deliver(fullUrl, records + k).then((id) => void sentAt.set(id, t)));
    }
    await Promise.all(inflight);
    const lDeadline = Date.now() + 60_000;
    while (stack.smtp.messages.length < arrivals && Date.now() < lDeadline) await sleep(10);
    const arrived = stack.smtp.messages
      .map((m) => {
        const id = /^<([0-9a-f-]{36})\./.exec(m.parsed.messageId ?? '')?.[1];
        const t = id ? sentAt.get(id) : undefined;
        return t === undefined ? null : m.receivedAt - t;
      })
      .filter((x): x is number => x !== null);
    // An email that did not arrive within the minute counts as slower than every one that did.
    const latencies = [...arrived, ...Array.from({ length: Math.max(0, arrivals - arrived.length) }, () => Infinity)].sort((a, b) => a - b);
    await service.stop();
    await Promise.all(events.map((e) => e.close()));

    const fullPerSecond = records / fullSeconds;
    const floorPerSecond = records / floorSeconds;
    const perQueue = ALL_QUEUES.map((q) => `${q} ${((perQueueCounts.get(q) ?? 0) / records).toFixed(2)}`).join(', ');
    console.log(
      `job path benchmark: ${records} auto-approved credits (record.advance → SMTP email → confirmed, ticket synced), worker concurrency ${config.jobs.concurrency}, Zendesk limiter ${zendeskPerMin}/min`,
    );
    console.log(`  floor, 1 PG transaction + 1 pooled SMTP send per record: ${floorSeconds.toFixed(2)} s = ${floorPerSecond.toFixed(0)} records/s`);
    console.log(
      `  full job path:                ${records} records confirmed and tickets solved in ${fullSeconds.toFixed(2)} s = ${fullPerSecond.toFixed(0)} records/s`,
    );
    console.log(`  throughput ratio (full / floor): ${(fullPerSecond / floorPerSecond).toFixed(2)}   (aim ≥ 0.50)`);
    console.log(`  jobs per record: ${(jobs / records).toFixed(2)}   (${perQueue}; aim ≤ 3)`);
    console.log(
      `  commits per record: ${((c2 - c1) / records).toFixed(2)}   (job path, from pg_stat_database; aim ≤ 8; ingest added ${((c1 - c0) / records).toFixed(2)})`,
    );
    console.log(
      `  webhook → email accepted, open loop at ${rate}/s for ${latencySeconds} s: p50 ${percentile(latencies, 50).toFixed(0)} ms, p95 ${percentile(latencies, 95).toFixed(0)} ms, max ${latencies[latencies.length - 1]!.toFixed(0)} ms   (aim p95 < 1000 ms)`,
    );
  } finally {
    await stats.end();
    await db.destroy();
    await stack.close();
    await drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
