import { KnexAuditAppender } from '../src/db/audit.repository';
import { verifyAudit } from '../src/db/audit.queries';
import { KnexTransactionRunner } from '../src/db/store';
import type { AuditEventDraft } from '../src/records/audit';
import { createDb, fmt, freshDatabase, runConcurrent } from './lib';

/**
 * Audit append against a baseline measured in the same run: a plain INSERT of the same columns
 * into an unchained table, one autocommit statement each. The chained append is one statement
 * too (`audit_append`: lock the head, hash, insert, move the head), so the ratio is what the hash
 * chain itself costs. Then `audit verify` over BENCH_VERIFY_EVENTS events (default 1,000,000),
 * against reading the same rows without checking them.
 */
async function main() {
  const total = Number(process.env.BENCH_OPS ?? 5000);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 20);
  const verifyEvents = Number(process.env.BENCH_VERIFY_EVENTS ?? 1_000_000);
  const accounts = 100;
  const { url, appUrl, drop } = await freshDatabase('lifecycle_desk_bench_audit');
  const owner = createDb(url, { poolMax: 4, statementTimeoutMs: 3_600_000 });
  const db = createDb(appUrl, { poolMax: concurrency, statementTimeoutMs: 3_600_000 });
  try {
    await owner.raw('CREATE TABLE plain_events (LIKE audit_events INCLUDING ALL)');
    await owner.raw('GRANT SELECT, INSERT ON plain_events TO lifecycle_desk_app');
    await owner.raw('GRANT USAGE ON SEQUENCE audit_events_id_seq TO lifecycle_desk_app');
    const event = (i: number, account = `acc_${i % accounts}`): AuditEventDraft => ({
      account_id: account,
      record_id: null,
      type: 'bench.event',
      actor: { role: 'system', id: 'bench' },
      occurred_at: new Date().toISOString(),
      data: { i, note: 'benchmark event', amount: { amount_minor: i * 100, currency: 'EUR' } },
    });
    const appender = new KnexAuditAppender(db);
    const store = new KnexTransactionRunner(db);
    // Warm both paths so connection set-up is not measured.
    await runConcurrent(200, concurrency, (i) => appender.append([event(i)]).then(() => undefined));
    await runConcurrent(200, concurrency, async (i) => void (await db('plain_events').insert({ ...toRow(event(i)), seq: -i - 1 })));

    const baseline = await runConcurrent(total, concurrency, async (i) => {
      await db('plain_events').insert({ ...toRow(event(i)), seq: i });
    });
    const chained = await runConcurrent(total, concurrency, (i) => appender.append([event(i)]).then(() => undefined));
    const inTransaction = await runConcurrent(total, concurrency, (i) => store.transaction((u) => u.audit.append([event(i)])).then(() => undefined));

    console.log(`audit append benchmark: ${total} events, ${concurrency} concurrent writers, ${accounts} accounts`);
    console.log(`  baseline plain INSERT (1 statement)          ${fmt(baseline)}`);
    console.log(`  hash-chained append (1 statement)            ${fmt(chained)}`);
    console.log(`  ratio (append / baseline throughput): ${(chained.perSecond / baseline.perSecond).toFixed(2)}`);
    console.log(`  for reference, append in its own transaction ${fmt(inTransaction)}  (BEGIN + append + COMMIT)`);

    // Verify: seed chains in bulk through the same function (1,000 accounts), then walk them all.
    const seeded = await owner('audit_events').count<{ count: string }[]>('* as count');
    let have = Number(seeded[0]!.count);
    const batch = 5000;
    const seedStart = process.hrtime.bigint();
    for (let n = 0; have < verifyEvents; n++) {
      const size = Math.min(batch, verifyEvents - have);
      const drafts = Array.from({ length: size }, (_, k) => event(n * batch + k, `verify_${(n * batch + k) % 1000}`));
      await appender.append(drafts);
      have += size;
    }
    const seedSeconds = Number(process.hrtime.bigint() - seedStart) / 1e9;
    const readStart = process.hrtime.bigint();
    let rows = 0;
    for (let after = 0; ;) {
      const page = await owner('audit_events').select('*').where('id', '>', after).orderBy('id').limit(2000);
      rows += page.length;
      if (page.length < 2000) break;
      after = Number(page[page.length - 1].id);
    }
    const readSeconds = Number(process.hrtime.bigint() - readStart) / 1e9;
    const verifyStart = process.hrtime.bigint();
    const v = await verifyAudit(owner);
    const verifySeconds = Number(process.hrtime.bigint() - verifyStart) / 1e9;
    if (v.broken) throw new Error(`verify found a break in a freshly seeded trail: ${JSON.stringify(v.broken)}`);
    console.log(`audit verify benchmark: ${v.events} events in ${v.accounts} chains (seeded in ${seedSeconds.toFixed(1)} s)`);
    console.log(`  baseline read of the same rows, no checks   ${(rows / readSeconds).toFixed(0).padStart(8)} events/s`);
    console.log(
      `  audit verify                                ${(v.events / verifySeconds).toFixed(0).padStart(8)} events/s  (${verifySeconds.toFixed(1)} s; aim >= 100000/s)`,
    );
    console.log(`  ratio (verify / read): ${(v.events / verifySeconds / (rows / readSeconds)).toFixed(2)}`);
  } finally {
    await db.destroy();
    await owner.destroy();
    await drop();
  }
}

function toRow(e: AuditEventDraft) {
  return { ...e, actor: JSON.stringify(e.actor), data: JSON.stringify(e.data), hash: 'x' };
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
