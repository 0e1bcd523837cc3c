import type { AddressInfo } from 'node:net';
import { Queue, Worker } from 'bullmq';
import { loadConfig } from '../src/config';
import { startService } from '../src/main';
import { createLogger } from '../src/observability/logger';
import { startStandins } from '../devtools/standins';
import { signZendesk } from '../src/integrations/zendesk/signature';
import { KnexAccountRepository } from '../src/db/accounts.repository';
import { AccountSchema } from '../src/records/accounts';
import { createQueueRedis } from '../src/jobs/queues';
import { SmtpEmailSender } from '../src/integrations/email/smtp.sender';
import { createDb, freshDatabase, percentile } from './lib';

/**
 * Job path throughput: auto-approved records from webhook to confirmed (policy, billing on the
 * ledger, customer email to a real SMTP server, confirmation), against a baseline measured in the
 * same run: a no-op BullMQ worker draining 3 jobs per record. A floor run (each job commits one
 * small PostgreSQL transaction) shows how far durable steps alone sit from the baseline. Also the
 * end-to-end latency from webhook accepted to email accepted by the SMTP server.
 */
async function main() {
  const records = Number(process.env.BENCH_RECORDS ?? 400);
  const { url, appUrl, drop } = await freshDatabase('lifecycle_desk_bench_jobs');
  const stack = await startStandins();
  const db = createDb(url, { poolMax: 5 });
  const prefix = `ld-bench-jobs-${Date.now()}`;
  try {
    const now = Date.now();
    await new KnexAccountRepository(db).upsertMany(
      Array.from({ length: 100 }, (_, i) =>
        AccountSchema.parse({ id: `acc_${i}`, name: `Account ${i}`, plan_id: 'growth', currency: 'EUR', mrr_minor: 9900, contacts: [`ops${i}@example.com`], term_start: new Date(now - 10 * 86_400_000).toISOString(), term_end: new Date(now + 20 * 86_400_000).toISOString() }),
      ),
    );

    // Baseline: a no-op worker on the same Redis, draining 3 jobs per record (policy, billing, email).
    // Floor: the same, but each job commits one small PostgreSQL transaction, the least any step
    // that records its outcome durably must do. It bounds what the full path can reach.
    const jobs = records * 3;
    await db.raw('CREATE TABLE bench_floor (id bigserial primary key, job text not null)');
    const drainJobs = async (name: string, work: (i: number) => Promise<void>): Promise<number> => {
      const q = new Queue(name, { connection: createQueueRedis({ redisUrl: 'redis://127.0.0.1:6379' }), prefix });
      await q.addBulk(Array.from({ length: jobs }, (_, i) => ({ name, data: { i }, opts: { jobId: `${name}-${i}`, removeOnComplete: true } })));
      let done = 0;
      let allDone!: () => void;
      const finished = new Promise<void>((resolve) => (allDone = resolve));
      const t0 = process.hrtime.bigint();
      const w = new Worker(
        name,
        async (job) => {
          await work(job.data.i as number);
          done += 1;
          if (done === jobs) allDone();
        },
        { connection: createQueueRedis({ redisUrl: 'redis://127.0.0.1:6379' }), prefix, concurrency: 10 },
      );
      await finished;
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      await w.close();
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
      return seconds;
    };
    const baselineSeconds = await drainJobs('bench-noop', async () => undefined);
    const floorSeconds = await drainJobs('bench-floor', async (i) => {
      await db.transaction(async (trx) => {
        await trx('bench_floor').insert({ job: String(i) });
      });
    });
    // Floor: only the customer emails, one per record, through the service's pooled sender.
    const sender = new SmtpEmailSender({ smtpUrl: stack.env.SMTP_URL!, from: 'bench@lifecycle-desk.example' });
    let nextMail = 0;
    const m0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (nextMail < records) {
          const i = nextMail++;
          await sender.send({ to: `ops${i % 100}@example.com`, subject: 'Your credit', text: `Credit ${i}`, html: `<p>Credit ${i}</p>`, messageId: `<floor-${i}@bench>` });
        }
      }),
    );
    const mailSeconds = Number(process.hrtime.bigint() - m0) / 1e9;
    sender.close();
    stack.smtp.messages.length = 0;

    const config = loadConfig({ ...stack.env, DATABASE_URL: appUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', QUEUE_PREFIX: prefix });
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
          fields: { '360001000001': 'lc_credit', '360001000002': 'lc_goodwill', '360001000003': `acc_${i % 100}`, '360001000004': 'goodwill', '360001000011': '1.00', '360001000012': 'EUR', '360001000013': new Date(now - 3 * 86_400_000).toISOString().slice(0, 10), '360001000014': new Date(now - 2 * 86_400_000).toISOString().slice(0, 10) },
        },
      });
    const deliver = async (base: string, i: number) => {
      const raw = credit(i);
      const ts = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const res = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/json', 'x-zendesk-webhook-signature': signZendesk(stack.secrets.zendeskWebhook, ts, raw), 'x-zendesk-webhook-signature-timestamp': ts }, body: raw });
      const j = (await res.json()) as { record_id?: string; state?: string };
      if (j.state !== 'submitted') throw new Error(`unexpected ingest result ${JSON.stringify(j)}`);
      return j.record_id!;
    };
    const confirmed = async () => Number((await db('lifecycle_records').where({ state: 'confirmed' }).count<{ n: string }[]>('* as n'))[0]!.n);

    // Throughput: the records are submitted first (web only), then workers alone drain the pipeline.
    const web = await startService(config, { worker: false, logger: createLogger('silent') });
    const webUrl = `http://127.0.0.1:${(web.http!.server.address() as AddressInfo).port}/webhooks/zendesk`;
    let next = 0;
    await Promise.all(Array.from({ length: 20 }, async () => {
      while (next < records) await deliver(webUrl, next++);
    }));
    await web.stop();
    const t1 = Date.now();
    const workers = await startService(config, { web: false, logger: createLogger('silent') });
    const deadline = Date.now() + 180_000;
    while ((await confirmed()) < records && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if ((await confirmed()) < records) throw new Error(`only ${await confirmed()} of ${records} records confirmed within 180 s`);
    const fullSeconds = (Date.now() - t1) / 1000;
    await workers.stop();

    // Latency: one request at a time through the whole service, webhook → email accepted by SMTP.
    const service = await startService(config, { logger: createLogger('silent') });
    const fullUrl = `http://127.0.0.1:${(service.http!.server.address() as AddressInfo).port}/webhooks/zendesk`;
    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const sent = Date.now();
      const id = await deliver(fullUrl, records + i);
      let mail;
      while (!(mail = stack.smtp.messages.find((m) => (m.parsed.messageId ?? '').startsWith(`<${id}.`))) && Date.now() - sent < 10_000) await new Promise((r) => setTimeout(r, 2));
      if (!mail) throw new Error(`no email for record ${id} within 10 s`);
      latencies.push(mail.receivedAt - sent);
    }
    latencies.sort((a, b) => a - b);
    const fullPerSecond = records / fullSeconds;
    const basePerSecond = records / baselineSeconds;
    const floorPerSecond = records / floorSeconds;
    const mailPerSecond = records / mailSeconds;
    console.log(`job path benchmark: ${records} auto-approved credits (policy → ledger → SMTP email → confirmed), worker concurrency ${config.jobs.concurrency}`);
    console.log(`  baseline no-op BullMQ worker: ${jobs} jobs in ${baselineSeconds.toFixed(2)} s = ${basePerSecond.toFixed(0)} records/s (3 jobs per record)`);
    console.log(`  floor, 1 PG transaction/job:  ${jobs} jobs in ${floorSeconds.toFixed(2)} s = ${floorPerSecond.toFixed(0)} records/s (ratio ${(floorPerSecond / basePerSecond).toFixed(2)})`);
    console.log(`  floor, emails only:           ${records} emails in ${mailSeconds.toFixed(2)} s = ${mailPerSecond.toFixed(0)} records/s (ratio ${(mailPerSecond / basePerSecond).toFixed(2)})`);
    console.log(`  full job path:                ${records} records confirmed in ${fullSeconds.toFixed(2)} s = ${fullPerSecond.toFixed(0)} records/s`);
    console.log(`  throughput ratio (full / baseline): ${(fullPerSecond / basePerSecond).toFixed(2)}   (aim ≥ 0.50)`);
    console.log(`  webhook → email accepted, one at a time: p50 ${percentile(latencies, 50).toFixed(0)} ms, p95 ${percentile(latencies, 95).toFixed(0)} ms over ${latencies.length}   (aim p95 < 2000 ms)`);
    await service.stop();
  } finally {
    await db.destroy();
    await stack.close();
    await drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
