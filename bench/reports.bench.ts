import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/config';
import { startService } from '../src/main';
import { createLogger } from '../src/observability/logger';
import { startStandins } from '../devtools/standins';
import { REPORT_NAMES } from '../src/records/reports';
import { createDb, freshDatabase, percentile } from './lib';

/**
 * Reports over a large history: BENCH_RECORDS records (default 1,000,000) over 24 months with
 * their audit events, approvals and confirmed billing, written in a few INSERT … SELECT
 * generate_series statements (not one insert at a time). Measured through the running service's
 * HTTP API, as the dashboard asks: the monthly report set (all six reports of one month, each
 * alone and the six at once) and GET /api/accounts/:id/history, each against a plain count(*)
 * over the same rows in the same run. Aims: the set's p95 under 300 ms, history under 10 ms.
 */

const API_TOKEN = 'bench-api-token-0123456789';
const MONTHS = 24;
const START = Date.UTC(2025, 0, 1);
const SPAN_S = Math.round((Date.UTC(2027, 0, 1) - START) / 1000);

async function seed(db: ReturnType<typeof createDb>, n: number, accounts: number): Promise<void> {
  const t0 = Date.now();
  const step = (what: string, sql: string, bindings: Record<string, unknown> = {}) =>
    db
      .raw(sql, { n, a: accounts, start: new Date(START).toISOString(), span: SPAN_S, ...bindings })
      .then(() => console.log(`  seeded ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`));

  await step(
    'accounts',
    `INSERT INTO accounts (id, name, plan_id, status, currency, mrr_minor, billing_customer_id, contacts, term_start, term_end, notice_period_days, early_termination_fee_minor)
     SELECT 'acc_' || i, 'Account ' || i, 'growth', 'active', CASE WHEN i % 4 = 0 THEN 'USD' ELSE 'EUR' END, 9900, NULL, '[]'::jsonb,
            '2025-01-01T00:00:00Z', '2027-01-01T00:00:00Z', 30, 50000
       FROM generate_series(0, :a - 1) i`,
  );
  // One row per record; everything about it derives from i, so the other tables can follow it.
  await db.raw(
    `
    CREATE UNLOGGED TABLE bench_seed AS
    SELECT i,
           md5('record' || i)::uuid AS id,
           (ARRAY['downgrade','upgrade','termination','status_change','service_credit'])[1 + i % 5] AS kind,
           'acc_' || (i % :a) AS account_id,
           i / :a AS nth,
           CASE WHEN (i % :a) % 4 = 0 THEN 'USD' ELSE 'EUR' END AS currency,
           'agent_' || (i % 50) AS agent,
           (:start::timestamptz + ((i::bigint * :span) / :n) * interval '1 second') AS created_at,
           CASE WHEN i % 20 < 14 THEN 'confirmed' WHEN i % 20 = 14 THEN 'draft' WHEN i % 20 = 15 THEN 'pending_approval'
                WHEN i % 20 = 16 THEN 'rejected' WHEN i % 20 = 17 THEN 'cancelled' WHEN i % 20 = 18 THEN 'failed' ELSE 'scheduled' END AS state,
           i % 3 = 0 AS auto
      FROM generate_series(0, :n - 1) i`,
    { n, a: accounts, start: new Date(START).toISOString(), span: SPAN_S },
  );
  await step(
    'lifecycle_records',
    `INSERT INTO lifecycle_records (id, kind, subtype, account_id, ticket_id, requested_by, requester, reason_code, reason_text, effective, effective_at, state, version,
                                    details, amount_minor, currency, risk_flags, problems, created_at, updated_at)
     SELECT id, kind,
            CASE kind WHEN 'downgrade' THEN 'subscription' WHEN 'upgrade' THEN 'subscription' WHEN 'termination' THEN (ARRAY['customer_initiated','non_payment','breach','other'])[1 + i % 4]
                      WHEN 'status_change' THEN (ARRAY['suspension','deactivation','reactivation','closure'])[1 + i % 4] ELSE (ARRAY['outage','sla_breach','billing_discrepancy','delay','goodwill'])[1 + i % 5] END,
            account_id, (100000 + i)::text, agent, NULL,
            (ARRAY['price','unused_features','budget_cut','dissatisfaction','switched_to_competitor','other'])[1 + i % 6], '',
            'immediate', created_at + interval '2 hours', state, 5,
            CASE WHEN kind = 'termination' THEN jsonb_build_object('notice_period_days', 30, 'fee_waived', i % 7 = 0, 'early_termination_fee', jsonb_build_object('amount_minor', 50000, 'currency', currency))
                   || CASE WHEN i % 3 = 0 THEN jsonb_build_object('retention_offer', jsonb_build_object('offer', '20% off', 'outcome', (ARRAY['pending','accepted','declined'])[1 + i % 3])) ELSE '{}'::jsonb END
                 ELSE '{}'::jsonb END,
            CASE WHEN kind = 'service_credit' THEN -(100 + i % 5000) END, CASE WHEN kind = 'service_credit' THEN currency END,
            CASE WHEN i % 11 = 0 THEN '["agent_credit_volume"]'::jsonb WHEN i % 13 = 0 THEN '["unknown_requester","credit_above_mrr_share"]'::jsonb ELSE '[]'::jsonb END,
            '[]'::jsonb, created_at, created_at + interval '3 hours'
       FROM bench_seed`,
  );
  // Audit events: created; the policy's decision; approval; start, applied (with MRR) and
  // confirmed; a schedule before starting for one confirmed record in ten. Fake hashes: the
  // reports never verify them.
  await step(
    'audit_events',
    `INSERT INTO audit_events (account_id, seq, record_id, type, actor, occurred_at, data, prev_hash, hash)
     SELECT s.account_id, s.nth * 8 + e.k + 1, s.id, e.type, '{"role":"system","id":"bench"}'::jsonb, s.created_at + e.after,
            CASE WHEN e.type IN ('record.auto_approve','record.request_approval') THEN jsonb_build_object('rule', 'rule_' || s.kind)
                 WHEN e.type = 'record.mark_applied' THEN jsonb_build_object('mrr', jsonb_build_object('before', 9900, 'after',
                   CASE s.kind WHEN 'upgrade' THEN 19900 WHEN 'downgrade' THEN 4900 WHEN 'termination' THEN 0 ELSE 9900 END, 'currency', s.currency))
                 ELSE '{}'::jsonb END,
            NULL, 'bench'
       FROM bench_seed s
       CROSS JOIN LATERAL (VALUES
         (0, 'record.created', interval '0'),
         (1, CASE WHEN s.auto THEN 'record.auto_approve' ELSE 'record.request_approval' END, interval '5 minutes'),
         (2, 'record.approve', interval '1 hour'),
         (3, 'record.schedule', interval '61 minutes'),
         (4, 'record.start_apply', interval '2 hours'),
         (5, 'record.mark_applied', interval '130 minutes'),
         (6, 'record.confirm', (2 + s.i % 72) * interval '1 hour')
       ) AS e(k, type, after)
      WHERE e.k = 0
         OR (e.k = 1 AND s.state <> 'draft')
         OR (e.k = 2 AND NOT s.auto AND s.state IN ('confirmed', 'failed', 'scheduled'))
         OR (e.k = 3 AND (s.state = 'scheduled' OR (s.state = 'confirmed' AND s.i % 10 = 0)))
         OR (e.k = 4 AND s.state IN ('confirmed', 'failed'))
         OR (e.k IN (5, 6) AND s.state = 'confirmed')`,
  );
  // audit_heads only moves forward one append at a time (its guard trigger); a seeded history sets
  // every head at once, so this one statement runs with triggers off (the bench is the superuser).
  await db.transaction(async (trx) => {
    await trx.raw('SET LOCAL session_replication_role = replica');
    await trx.raw(`INSERT INTO audit_heads (account_id, seq, hash) SELECT account_id, max(seq), 'bench' FROM audit_events GROUP BY account_id`);
  });
  console.log(`  seeded audit_heads (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  await step(
    'approval_requests',
    `INSERT INTO approval_requests (record_id, rule, approvals_required, approvers, escalation, risk, reminder_after_hours, escalate_after_hours, channel, messages, requested_at, decided_at, outcome)
     SELECT id, 'rule_' || kind, 1, '{"user_ids":["U1"],"user_groups":[]}'::jsonb, '{}'::jsonb, '[]'::jsonb, 4, 24, 'C1',
            CASE WHEN i % 4 = 0 THEN '[{"ts":"1","kind":"initial"},{"ts":"2","kind":"reminder"}]'::jsonb ELSE '[{"ts":"1","kind":"initial"}]'::jsonb END,
            created_at + interval '5 minutes',
            CASE WHEN state IN ('confirmed','failed','scheduled','rejected') THEN created_at + interval '1 hour' END,
            CASE WHEN state = 'rejected' THEN 'rejected' WHEN state IN ('confirmed','failed','scheduled') THEN 'approved' END
       FROM bench_seed WHERE NOT auto AND state <> 'draft'`,
  );
  await step(
    'approval_decisions',
    `INSERT INTO approval_decisions (record_id, approver_id, decision, reason, record_version, decided_at)
     SELECT record_id, 'sup_' || (abs(hashtext(record_id::text)) % 7), CASE outcome WHEN 'rejected' THEN 'reject' ELSE 'approve' END, NULL, 3, decided_at
       FROM approval_requests WHERE decided_at IS NOT NULL`,
  );
  await step(
    'billing_adjustments',
    `INSERT INTO billing_adjustments (idempotency_key, record_id, step, provider, status, request, provider_ref, attempts, result, created_at, updated_at)
     SELECT 'billing.' || id || '.apply', id, 'apply', 'ledger', 'succeeded', '{}'::jsonb, 'ref', 1,
            CASE WHEN kind = 'service_credit' THEN jsonb_build_object('providerRef', 'ref', 'money', jsonb_build_array(jsonb_build_object('type', 'credit', 'purpose', 'service_credit',
                        'amount', jsonb_build_object('amount_minor', 100 + i % 5000, 'currency', currency), 'destination', CASE WHEN i % 9 = 0 THEN 'payment' ELSE 'invoice' END)))
                 WHEN kind = 'termination' AND i % 7 <> 0 THEN jsonb_build_object('providerRef', 'ref', 'money', jsonb_build_array(jsonb_build_object('type', 'charge', 'purpose', 'fee',
                        'amount', jsonb_build_object('amount_minor', 50000, 'currency', currency), 'destination', 'invoice')))
                 ELSE jsonb_build_object('providerRef', 'ref', 'money', '[]'::jsonb) END,
            created_at + interval '130 minutes', created_at + interval '130 minutes'
       FROM bench_seed WHERE state = 'confirmed'`,
  );
  await db.raw('DROP TABLE bench_seed');
  await db.raw('VACUUM ANALYZE');
  console.log(`  vacuumed and analysed (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

const stats = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1]! };
};
const line = (label: string, ms: number[]) => {
  const s = stats(ms);
  return `  ${label.padEnd(34)} p50 ${s.p50.toFixed(1).padStart(7)} ms  p95 ${s.p95.toFixed(1).padStart(7)} ms  max ${s.max.toFixed(1).padStart(7)} ms  (${ms.length} runs)`;
};

async function main() {
  const n = Number(process.env.BENCH_RECORDS ?? 1_000_000);
  const repeats = Number(process.env.BENCH_REPEATS ?? 3);
  const accounts = Math.max(10, Math.round(n / 50));
  const keep = process.env.BENCH_KEEP_DB === '1';
  const { url, appUrl, drop } = await freshDatabase('lifecycle_desk_bench_reports');
  const db = createDb(url, { poolMax: 4, statementTimeoutMs: 3_600_000 });
  const stack = await startStandins();
  try {
    console.log(`reports benchmark: ${n} records over ${MONTHS} months, ${accounts} accounts`);
    await seed(db, n, accounts);
    const { rows } = await db.raw<{ rows: { events: number }[] }>('SELECT count(*)::int AS events FROM audit_events');
    console.log(`  ${rows[0]!.events} audit events`);

    const config = loadConfig({
      ...stack.env,
      DATABASE_URL: appUrl,
      API_TOKEN,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      QUEUE_PREFIX: `ld-bench-${Date.now()}`,
    });
    const service = await startService(config, { worker: false, logger: createLogger('silent') });
    const base = `http://127.0.0.1:${(service.http!.server.address() as AddressInfo).port}`;
    const get = async (path: string) => {
      const t0 = process.hrtime.bigint();
      const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${path}: ${res.status}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const timed = async (sql: string, bindings: Record<string, unknown>) => {
      const t0 = process.hrtime.bigint();
      await db.raw(sql, bindings);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };

    try {
      // The last twelve months of the history, each a month the dashboard would show.
      const months = Array.from({ length: 12 }, (_, k) => {
        const from = new Date(Date.UTC(2026, k, 1));
        const to = new Date(Date.UTC(2026, k + 1, 0));
        return { from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10), start: from, end: new Date(Date.UTC(2026, k + 1, 1)) };
      });
      await get(`/api/reports/volume?from=${months[0]!.from}&to=${months[0]!.to}`); // warm-up
      const perReport: Record<string, number[]> = Object.fromEntries(REPORT_NAMES.map((r) => [r, []]));
      const sets: number[] = [];
      const counts: number[] = [];
      for (let r = 0; r < repeats; r++) {
        for (const m of months) {
          counts.push(await timed('SELECT count(*) FROM lifecycle_records WHERE created_at >= :from AND created_at < :to', { from: m.start, to: m.end }));
          for (const name of REPORT_NAMES) perReport[name]!.push(await get(`/api/reports/${name}?from=${m.from}&to=${m.to}`));
          const t0 = process.hrtime.bigint();
          await Promise.all(REPORT_NAMES.map((name) => get(`/api/reports/${name}?from=${m.from}&to=${m.to}`)));
          sets.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      }
      const whole = [await timed('SELECT count(*) FROM lifecycle_records', {}), await timed('SELECT count(*) FROM lifecycle_records', {})];

      const history: number[] = [];
      const historyCounts: number[] = [];
      for (let i = 0; i < 300; i++) {
        const id = `acc_${(i * 7919) % accounts}`;
        historyCounts.push(
          await timed('SELECT (SELECT count(*) FROM lifecycle_records WHERE account_id = :id) + (SELECT count(*) FROM audit_events WHERE account_id = :id)', {
            id,
          }),
        );
        history.push(await get(`/api/accounts/${id}/history`));
      }
      const scrapes = [await get('/metrics'), await get('/metrics'), await get('/metrics')];

      console.log('');
      console.log('monthly reports, through GET /api/reports/<name> (one month of the last twelve):');
      console.log(line('baseline: count(*) of the month', counts));
      for (const name of REPORT_NAMES) console.log(line(`report ${name}`, perReport[name]!));
      console.log(line('the set of six at once (dashboard)', sets));
      console.log(
        `  ratio (set p95 / count(*) p95): ${(stats(sets).p95 / stats(counts).p95).toFixed(1)}   aim: set p95 < 300 ms — ${stats(sets).p95 < 300 ? 'met' : 'NOT met'}`,
      );
      console.log(line('count(*) of all records', whole));
      console.log('');
      console.log('GET /api/accounts/:id/history (about 50 records and 200 events per account):');
      console.log(line('baseline: count(*) of its rows', historyCounts));
      console.log(line('history', history));
      console.log(
        `  ratio (history p95 / count(*) p95): ${(stats(history).p95 / stats(historyCounts).p95).toFixed(1)}   aim: p95 < 10 ms — ${stats(history).p95 < 10 ? 'met' : 'NOT met'}`,
      );
      console.log('');
      console.log(
        `GET /metrics (business metrics from the database): first ${scrapes[0]!.toFixed(1)} ms (reads all history), then ${scrapes[1]!.toFixed(1)} and ${scrapes[2]!.toFixed(1)} ms`,
      );
    } finally {
      await service.stop();
    }
  } finally {
    await stack.close();
    await db.destroy();
    if (!keep) await drop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
