import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { applyRecord, failRecord, retryRecord } from '../../src/app/apply-record';
import { LedgerBillingProvider } from '../../src/integrations/billing/ledger.provider';
import type { BillingAdjustment, BillingProvider } from '../../src/records/ports';
import { AppError } from '../../src/records/errors';
import { verifyAudit } from '../../src/db/audit.queries';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';

let t: TestDb;
let accountSeq = 0;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.destroy();
});

const system = { role: 'system' as const, id: 'policy' };

async function approvedRecord(kind: 'upgrade' | 'downgrade' | 'service_credit' | 'status_change', over: Record<string, unknown> = {}) {
  const accountId = `acc_apply_${++accountSeq}`;
  await seedAccounts(t.db, buildAccount({ id: accountId }));
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, {
    request: buildRequest(kind, { account_id: accountId, ...over }),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  const { record: approved } = await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: system });
  return { deps, record: approved, accountId };
}

/** Counts calls per idempotency key, and fails the first `failures` calls with the given error. */
class CountingProvider implements BillingProvider {
  readonly name = 'ledger' as const;
  readonly calls: string[] = [];
  constructor(
    private readonly inner: BillingProvider,
    private failures = 0,
    private readonly error = new AppError('provider_failed', 'billing answered 503', { retryable: true }),
  ) {}
  async applyAdjustment(adj: BillingAdjustment) {
    this.calls.push(adj.idempotencyKey);
    if (this.failures > 0) {
      this.failures -= 1;
      throw this.error;
    }
    return this.inner.applyAdjustment(adj);
  }
}

it('applies an immediate upgrade: ledger charge, account on the new plan, email queued, audit intact', async () => {
  const { deps, record, accountId } = await approvedRecord('upgrade', { effective: 'immediate' });
  const ledger = new LedgerBillingProvider(t.db);
  expect(await applyRecord({ ...deps, billing: ledger }, record.id)).toBe('applied');
  const stored = await t.db('lifecycle_records').where({ id: record.id }).first();
  expect(stored.state).toBe('applied');
  expect(await t.db('accounts').where({ id: accountId }).first()).toMatchObject({ plan_id: 'business', mrr_minor: '29900' });
  expect(await ledger.balance(accountId, 'EUR')).toBe(record.amount!.amount_minor);
  expect(await countRows(t.db, 'outbox', { key: `email.${record.id}.applied` })).toBe(1);
  const types = (await t.db('audit_events').where({ record_id: record.id }).orderBy('seq')).map((e: { type: string }) => e.type);
  expect(types).toEqual(['record.created', 'record.auto_approve', 'record.start_apply', 'record.mark_applied']);
  expect((await verifyAudit(t.db, accountId)).broken).toBeNull();
});

it('schedules an end-of-term downgrade with a delayed job at the term end', async () => {
  const { deps, record } = await approvedRecord('downgrade');
  expect(record.effective).toBe('end_of_term');
  expect(await applyRecord({ ...deps, billing: new LedgerBillingProvider(t.db) }, record.id)).toBe('scheduled');
  expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('scheduled');
  const job = await t.db('outbox').where({ topic: 'billing.apply' }).whereRaw("payload->>'record_id' = ?", [record.id]).orderBy('id', 'desc').first();
  expect(new Date(job.available_at).toISOString()).toBe(record.effective_at);
  expect(await countRows(t.db, 'outbox', { key: `email.${record.id}.scheduled` })).toBe(1);
  deps.clock.set(new Date(Date.parse(record.effective_at!) + 1000));
  expect(await applyRecord({ ...deps, billing: new LedgerBillingProvider(t.db) }, record.id)).toBe('applied');
});

it('retries with the same idempotency key and never bills twice', async () => {
  const { deps, record, accountId } = await approvedRecord('service_credit');
  const ledger = new LedgerBillingProvider(t.db);
  const provider = new CountingProvider(ledger, 2);
  await expect(applyRecord({ ...deps, billing: provider }, record.id)).rejects.toThrow(/503/);
  await expect(applyRecord({ ...deps, billing: provider }, record.id)).rejects.toThrow(/503/);
  expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('applying');
  expect((await t.db('billing_adjustments').where({ record_id: record.id }).first()).attempts).toBe(2);
  expect(await applyRecord({ ...deps, billing: provider }, record.id)).toBe('applied');
  expect(await applyRecord({ ...deps, billing: provider }, record.id)).toBe('already_applied');
  expect(new Set(provider.calls)).toEqual(new Set([`billing.${record.id}.apply`]));
  expect(provider.calls).toHaveLength(3);
  expect(await ledger.balance(accountId, 'EUR')).toBe(-100);
});

it('does not call the provider again when it succeeded but the process died before recording it', async () => {
  const { deps, record } = await approvedRecord('service_credit');
  const ledger = new LedgerBillingProvider(t.db);
  const provider = new CountingProvider(ledger);
  // Simulate the crash window: the adjustment succeeded and was marked, but the record never moved on.
  await applyRecord({ ...deps, billing: provider }, record.id);
  // Set up as the owner with the state-machine trigger off: the service's role cannot write this.
  await t.admin.transaction(async (trx) => {
    await trx.raw('SET LOCAL session_replication_role = replica');
    await trx('lifecycle_records').where({ id: record.id }).update({ state: 'applying', version: 99 });
  });
  expect(await applyRecord({ ...deps, billing: provider }, record.id)).toBe('applied');
  expect(provider.calls).toHaveLength(1);
});

it('a failed record is retried from the CLI path with a fresh job and the same key', async () => {
  const { deps, record } = await approvedRecord('service_credit');
  const provider = new CountingProvider(
    new LedgerBillingProvider(t.db),
    1,
    new AppError('provider_failed', 'customer has no payment method', { retryable: false }),
  );
  await expect(applyRecord({ ...deps, billing: provider }, record.id)).rejects.toThrow(/payment method/);
  await failRecord(deps, record.id, 'customer has no payment method');
  expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('failed');
  expect(await countRows(t.db, 'outbox', { topic: 'slack.alert' })).toBeGreaterThan(0);
  const retried = await retryRecord(deps, record.id, { role: 'supervisor', id: 'U1' });
  expect(retried.state).toBe('applying');
  expect(await countRows(t.db, 'outbox', { key: `billing-apply.${record.id}.retry${retried.version}` })).toBe(1);
  expect(await applyRecord({ ...deps, billing: provider }, record.id)).toBe('applied');
  expect(new Set(provider.calls)).toEqual(new Set([`billing.${record.id}.apply`]));
});

it('merges an account into another without losing either side', async () => {
  const deps = buildDeps(t.db);
  await seedAccounts(
    t.db,
    buildAccount({ id: 'acc_src', contacts: ['a@src.example'], mrr_minor: 2900 }),
    buildAccount({ id: 'acc_dst', contacts: ['b@dst.example'], mrr_minor: 9900 }),
  );
  const { record } = await createRecord(deps, {
    request: buildRequest('status_change', {
      account_id: 'acc_src',
      subtype: 'merge',
      details: { merge: { source_account_id: 'acc_src', target_account_id: 'acc_dst' } },
    }),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  await transitionRecord(deps, { recordId: record.id, event: 'request_approval', actor: system });
  await transitionRecord(deps, { recordId: record.id, event: 'approve', actor: { role: 'supervisor', id: 'U1' } });
  expect(await applyRecord({ ...deps, billing: new LedgerBillingProvider(t.db) }, record.id)).toBe('applied');
  expect(await t.db('accounts').where({ id: 'acc_src' }).first()).toMatchObject({ status: 'merged', merged_into: 'acc_dst', contacts: ['a@src.example'] });
  // The source's subscription ends at its period end, so its revenue is not counted on the target.
  expect(await t.db('accounts').where({ id: 'acc_dst' }).first()).toMatchObject({
    status: 'active',
    mrr_minor: '9900',
    contacts: ['b@dst.example', 'a@src.example'],
  });
});
