import { KnexTransactionRunner } from '../src/db/store';
import { createDb, fmt, freshDatabase, runConcurrent } from './lib';

/**
 * Audit append (hash chain, per-account head lock, one transaction each) against a baseline
 * measured in the same run: a plain INSERT of the same columns into an unchained table.
 */
async function main() {
  const total = Number(process.env.BENCH_OPS ?? 5000);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 20);
  const accounts = 100;
  const { url, drop } = await freshDatabase('lifecycle_desk_bench_audit');
  const db = createDb(url, { poolMax: concurrency });
  try {
    await db.raw('CREATE TABLE plain_events (LIKE audit_events INCLUDING DEFAULTS)');
    const event = (i: number) => ({
      account_id: `acc_${i % accounts}`,
      record_id: null,
      type: 'bench.event',
      actor: { role: 'system' as const, id: 'bench' },
      occurred_at: new Date().toISOString(),
      data: { i, note: 'benchmark event', amount: { amount_minor: i * 100, currency: 'EUR' } },
    });
    const store = new KnexTransactionRunner(db);
    // Warm both paths so connection set-up is not measured.
    await runConcurrent(200, concurrency, (i) => store.transaction((u) => u.audit.append([event(i)])).then(() => undefined));

    const baseline = await runConcurrent(total, concurrency, async (i) => {
      const e = event(i);
      await db('plain_events').insert({ ...e, seq: i, actor: JSON.stringify(e.actor), data: JSON.stringify(e.data), hash: 'x' });
    });
    const chained = await runConcurrent(total, concurrency, (i) => store.transaction((u) => u.audit.append([event(i)])).then(() => undefined));

    console.log(`audit append benchmark: ${total} events, ${concurrency} concurrent writers, ${accounts} accounts`);
    console.log(`  baseline plain INSERT   ${fmt(baseline)}`);
    console.log(`  hash-chained append     ${fmt(chained)}`);
    console.log(`  ratio (append / baseline throughput): ${(chained.perSecond / baseline.perSecond).toFixed(2)}`);
  } finally {
    await db.destroy();
    await drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
