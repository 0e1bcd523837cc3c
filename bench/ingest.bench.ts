import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { loadConfig } from '../src/config';
import { startService } from '../src/main';
import { createLogger } from '../src/observability/logger';
import { startStandins } from '../devtools/standins';
import { runLoad, runOpenLoad } from './load';
import { KnexAccountRepository } from '../src/db/accounts.repository';
import { AccountSchema } from '../src/records/accounts';
import { createDb, fmt, freshDatabase } from './lib';

/**
 * Webhook ingest: signed Zendesk deliveries per second and latency through the whole path
 * (verify, parse, map, validate, record + audit + outbox in one transaction), against a baseline
 * measured in the same run: the same HTTP stack (Fastify) doing one INSERT per request. A floor
 * run (the same stack, no database at all) shows what HTTP and the load generator cost by
 * themselves on this machine. The load comes from a worker thread so client and server do not
 * share one event loop.
 */
async function main() {
  const total = Number(process.env.BENCH_OPS ?? 4000);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 100);
  const { url, appUrl, drop } = await freshDatabase('lifecycle_desk_bench_ingest');
  const stack = await startStandins();
  const db = createDb(url, { poolMax: 20 });
  try {
    const now = Date.now();
    const accounts = Array.from({ length: 200 }, (_, i) =>
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
    );
    await new KnexAccountRepository(db).upsertMany(accounts);
    await db.raw('CREATE TABLE bench_baseline (id bigserial primary key, body jsonb not null, received_at timestamptz not null default now())');

    // Baseline: the same HTTP stack, one INSERT per request.
    const baseline = Fastify({ logger: false });
    baseline.post('/webhooks/zendesk', async (req) => {
      await db('bench_baseline').insert({ body: JSON.stringify(req.body) });
      return { ok: true };
    });
    // Floor: the same stack answering without touching the database (what HTTP and the load cost alone).
    baseline.post('/empty', async () => ({ ok: true }));
    await baseline.listen({ port: 0, host: '127.0.0.1' });
    const baseUrl = `http://127.0.0.1:${(baseline.server.address() as AddressInfo).port}/webhooks/zendesk`;

    const config = loadConfig({ ...stack.env, DATABASE_URL: appUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', QUEUE_PREFIX: `ld-bench-${now}` });
    const service = await startService(config, { worker: false, logger: createLogger('silent') });
    const fullUrl = `http://127.0.0.1:${(service.http!.server.address() as AddressInfo).port}/webhooks/zendesk`;

    const secret = stack.secrets.zendeskWebhook;
    await runLoad({ url: baseUrl, secret, total: 300, concurrency, offset: 1_000_000 });
    await runLoad({ url: fullUrl, secret, total: 300, concurrency, offset: 2_000_000 });
    const floor = await runLoad({ url: baseUrl.replace('/webhooks/zendesk', '/empty'), secret, total, concurrency, offset: 0 });
    const base = await runLoad({ url: baseUrl, secret, total, concurrency, offset: 0 });
    const full = await runLoad({ url: fullUrl, secret, total, concurrency, offset: 0 });
    if (floor.failures || base.failures || full.failures) {
      throw new Error(`non-200 answers: floor ${floor.failures}, baseline ${base.failures}, full ${full.failures}`);
    }

    // Open loop: a fixed arrival rate (about 5× the API rate of Zendesk's largest plan, 2,500 requests/min), as webhooks arrive.
    const rate = Number(process.env.BENCH_OPEN_RATE ?? 200);
    const seconds = Number(process.env.BENCH_OPEN_SECONDS ?? 30);
    const open = await runOpenLoad({ url: fullUrl, secret, rate, seconds, offset: 3_000_000 });

    console.log(`webhook ingest benchmark: ${total} signed deliveries, ${concurrency} concurrent connections`);
    console.log(`  floor (HTTP, no database)    ${fmt(floor)}`);
    console.log(`  baseline (HTTP + 1 INSERT)   ${fmt(base)}`);
    console.log(`  full ingest path             ${fmt(full)}`);
    console.log(`  throughput ratio (full / baseline): ${(full.perSecond / base.perSecond).toFixed(2)}   (aim ≥ 0.50)`);
    console.log(`  p99 full path: ${full.p99.toFixed(1)} ms   (aim < 50 ms; the floor's own p99 is ${floor.p99.toFixed(1)} ms)`);
    // Little's law for a closed loop: mean latency = connections / throughput, and p99 ≥ mean.
    const needed = concurrency / 0.05;
    console.log(
      `  at ${concurrency} connections a mean under 50 ms needs ${needed.toFixed(0)} req/s; here the floor reaches ${floor.perSecond.toFixed(0)} and the baseline ${base.perSecond.toFixed(0)}`,
    );
    console.log(`  open loop, ${rate} deliveries/s for ${seconds} s (timed from each one's due instant):`);
    console.log(`    full ingest path           ${fmt(open)}  errors ${open.failures}   (aim p99 < 50 ms, 0 errors)`);
    await service.stop();
    await baseline.close();
    if (open.failures) process.exitCode = 1;
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
