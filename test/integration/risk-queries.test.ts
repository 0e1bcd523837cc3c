import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { loadRiskFacts } from '../../src/db/risk.queries';
import { KnexRecordRepository } from '../../src/db/records.repository';
import { DEFAULT_RISK_THRESHOLDS } from '../../src/records/risk';
import type { RiskThresholds } from '../../src/records/risk';
import type { LifecycleRecord, State } from '../../src/records/kinds';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, NOW } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';

/** loadRiskFacts against a real, migrated PostgreSQL: windows, states, currencies and the record itself. */

const DAY = 86_400_000;
const T = DEFAULT_RISK_THRESHOLDS;
/** An instant `days` (and `ms`) before NOW. */
const ago = (days: number, ms = 0) => new Date(NOW.getTime() - days * DAY - ms).toISOString();

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(
    t.db,
    ...['acc_status', 'acc_flips', 'acc_credits', 'acc_other', 'acc_trx', 'acc_narrow'].map((id) => buildAccount({ id, contacts: ['ops@acme.example'] })),
  );
});
afterAll(async () => {
  await t.destroy();
});

interface RecordOverrides extends Partial<Omit<LifecycleRecord, 'amount'>> {
  /** Signed minor units in `currency` (default EUR); null for no money. */
  amount?: number | null;
  currency?: string;
}

function build(over: RecordOverrides = {}): LifecycleRecord {
  const { amount = null, currency = 'EUR', ...rest } = over;
  const created = rest.created_at ?? NOW.toISOString();
  return {
    id: randomUUID(),
    kind: 'service_credit',
    subtype: 'goodwill',
    account_id: 'acc_other',
    ticket_id: null,
    requested_by: 'agent-quiet',
    requester: null,
    reason_code: 'test',
    reason_text: '',
    effective: 'immediate',
    effective_at: null,
    state: 'submitted',
    version: 1,
    details: {},
    amount: amount === null ? null : { amount_minor: amount, currency },
    risk_flags: [],
    problems: [],
    created_at: created,
    updated_at: created,
    ...rest,
  };
}

async function insert(db: Knex | Knex.Transaction, ...records: RecordOverrides[]): Promise<LifecycleRecord[]> {
  const built = records.map(build);
  for (const r of built) await new KnexRecordRepository(db).insert(r);
  return built;
}

const status = (account_id: string, subtype: string, state: State, created_at: string): RecordOverrides => ({
  kind: 'status_change',
  subtype,
  account_id,
  state,
  created_at,
});
const credit = (account_id: string, amount: number, state: State, created_at: string, currency = 'EUR'): RecordOverrides => ({
  account_id,
  amount,
  currency,
  state,
  created_at,
});

it('counts the account’s other suspension/deactivation requests in the window, refused ones included', async () => {
  const [subject] = await insert(
    t.db,
    status('acc_status', 'suspension', 'submitted', ago(0)),
    status('acc_status', 'suspension', 'pending_approval', ago(1)),
    status('acc_status', 'deactivation', 'rejected', ago(30)),
    status('acc_status', 'suspension', 'applied', ago(30, 1)),
    status('acc_status', 'suspension', 'draft', ago(2)),
    status('acc_status', 'suspension', 'cancelled', ago(2)),
    status('acc_status', 'reactivation', 'applied', ago(3)),
    status('acc_other', 'suspension', 'applied', ago(1)),
    credit('acc_status', -100, 'applied', ago(1)),
  );
  // Counted: the pending suspension (1 day) and the refused deactivation exactly at the 30-day edge.
  expect((await loadRiskFacts(t.db, subject!, NOW, T)).recentStatusRequests).toBe(2);
  expect((await loadRiskFacts(t.db, subject!, NOW, { ...T, status_window_days: 7 })).recentStatusRequests).toBe(1);
});

it('counts the account’s other status changes that happened or may still happen in the flip-flop window', async () => {
  const [subject] = await insert(
    t.db,
    status('acc_flips', 'suspension', 'submitted', ago(0)),
    status('acc_flips', 'suspension', 'applied', ago(50)),
    status('acc_flips', 'reactivation', 'confirmed', ago(40)),
    status('acc_flips', 'closure', 'scheduled', ago(60)),
    status('acc_flips', 'suspension', 'applied', ago(60, 1)),
    status('acc_flips', 'deactivation', 'rejected', ago(5)),
    status('acc_flips', 'deactivation', 'cancelled', ago(5)),
    status('acc_flips', 'activation', 'draft', ago(5)),
    status('acc_other', 'reactivation', 'applied', ago(5)),
  );
  // Counted: the suspension (50 days), the reactivation (40) and the closure exactly at the 60-day edge.
  expect((await loadRiskFacts(t.db, subject!, NOW, T)).recentStatusChanges).toBe(3);
});

it('sums the account’s other credits in the record’s currency over the rolling window', async () => {
  const [subject] = await insert(
    t.db,
    credit('acc_credits', -1000, 'submitted', ago(0)),
    credit('acc_credits', -2000, 'applied', ago(10)),
    credit('acc_credits', -3000, 'pending_approval', ago(90)),
    credit('acc_credits', -4000, 'applied', ago(90, 1)),
    credit('acc_credits', -5000, 'applied', ago(10), 'USD'),
    credit('acc_credits', -6000, 'rejected', ago(10)),
    credit('acc_credits', -7000, 'draft', ago(10)),
    credit('acc_credits', -8000, 'cancelled', ago(10)),
    credit('acc_credits', 800, 'applied', ago(10)),
    { kind: 'termination', subtype: 'other', account_id: 'acc_credits', amount: -9000, state: 'applied', created_at: ago(10) },
    credit('acc_other', -10000, 'applied', ago(10)),
  );
  // Counted: 20.00 applied and 30.00 pending at the 90-day edge; the record's own 10.00 is added by the flags, not here.
  expect((await loadRiskFacts(t.db, subject!, NOW, T)).rollingCreditsMinor).toBe(5000);
  expect((await loadRiskFacts(t.db, build({ ...credit('acc_credits', -1, 'submitted', ago(0), 'USD') }), NOW, T)).rollingCreditsMinor).toBe(5000);
  expect((await loadRiskFacts(t.db, build({ ...credit('acc_credits', -1, 'submitted', ago(0), 'JPY') }), NOW, T)).rollingCreditsMinor).toBe(0);
  expect((await loadRiskFacts(t.db, build(status('acc_credits', 'suspension', 'submitted', ago(0))), NOW, T)).rollingCreditsMinor).toBe(0);
});

it('counts the agent’s other credits on any account in the agent window, refused ones included', async () => {
  const by = (requested_by: string, r: RecordOverrides): RecordOverrides => ({ ...r, requested_by });
  const [subject] = await insert(
    t.db,
    by('agent-busy', credit('acc_other', -100, 'submitted', ago(0))),
    by('agent-busy', credit('acc_other', -100, 'applied', ago(1))),
    by('agent-busy', credit('acc_credits', -100, 'rejected', ago(2))),
    by('agent-busy', credit('acc_flips', -100, 'pending_approval', ago(30))),
    by('agent-busy', credit('acc_other', -100, 'applied', ago(30, 1))),
    by('agent-busy', credit('acc_other', -100, 'cancelled', ago(3))),
    by('agent-busy', credit('acc_other', -100, 'draft', ago(3))),
    by('agent-busy', status('acc_other', 'suspension', 'applied', ago(3))),
    by('agent-calm', credit('acc_other', -100, 'applied', ago(3))),
  );
  expect((await loadRiskFacts(t.db, subject!, NOW, T)).agentCredits).toBe(3);
});

it('never counts the record itself, and sees rows written earlier in the same transaction', async () => {
  await t.db.transaction(async (trx) => {
    const [first, second] = await insert(
      trx,
      { ...status('acc_trx', 'suspension', 'submitted', ago(1)), requested_by: 'agent-trx' },
      { ...status('acc_trx', 'deactivation', 'submitted', ago(0)), requested_by: 'agent-trx' },
    );
    expect(await loadRiskFacts(trx, first!, NOW, T)).toEqual({ recentStatusRequests: 1, recentStatusChanges: 1, rollingCreditsMinor: 0, agentCredits: 0 });
    expect((await loadRiskFacts(trx, second!, NOW, T)).recentStatusRequests).toBe(1);
  });
});

it('reads through the (account_id, created_at) and agent-credit indexes', async () => {
  const queries: { sql: string; bindings: unknown[] }[] = [];
  const listen = (q: { sql: string; bindings: unknown[] }) => queries.push(q);
  t.db.on('query', listen);
  try {
    await loadRiskFacts(t.db, build(credit('acc_credits', -1, 'submitted', ago(0))), NOW, T);
  } finally {
    t.db.removeListener('query', listen);
  }
  expect(queries).toHaveLength(1);
  const plan = await t.db.transaction(async (trx) => {
    // The tables are tiny, so forbid sequential scans to see which indexes the query can use.
    await trx.raw('SET LOCAL enable_seqscan = off');
    const res = await trx.raw<{ rows: { 'QUERY PLAN': string }[] }>(
      `EXPLAIN ${queries[0]!.sql.replace(/\$\d+/g, '?')}`,
      queries[0]!.bindings as Knex.RawBinding[],
    );
    return res.rows.map((r) => r['QUERY PLAN']).join('\n');
  });
  expect(plan).toMatch(/Index Scan using lifecycle_records_account_id_created_at_index/);
  expect(plan).toMatch(/Index Scan using lifecycle_records_agent_credits_idx/);
});

it('honours every configured window', async () => {
  const by = (r: RecordOverrides): RecordOverrides => ({ ...r, requested_by: 'agent-narrow' });
  const [subject] = await insert(
    t.db,
    by(credit('acc_narrow', -1, 'submitted', ago(0))),
    by(credit('acc_narrow', -500, 'applied', ago(2))),
    by(status('acc_narrow', 'suspension', 'applied', ago(2))),
  );
  const narrow: RiskThresholds = { ...T, status_window_days: 1, flip_flop_window_days: 1, rolling_credit_days: 1, agent_window_days: 1 };
  expect(await loadRiskFacts(t.db, subject!, NOW, narrow)).toEqual({
    recentStatusRequests: 0,
    recentStatusChanges: 0,
    rollingCreditsMinor: 0,
    agentCredits: 0,
  });
  expect(await loadRiskFacts(t.db, subject!, NOW, T)).toEqual({ recentStatusRequests: 1, recentStatusChanges: 1, rollingCreditsMinor: 500, agentCredits: 1 });
});
