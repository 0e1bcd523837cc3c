import fs from 'node:fs';
import path from 'node:path';
import { applyRecord, unscheduleRecord } from '../../src/app/apply-record';
import { decideApproval } from '../../src/app/decide-approval';
import type { ApproverDirectory } from '../../src/app/decide-approval';
import { disputeRecord, resolveRecord } from '../../src/app/dispute-record';
import { evaluatePolicy } from '../../src/app/evaluate-policy';
import { reverseRecord } from '../../src/app/reverse-record';
import { sendCustomerEmail } from '../../src/app/send-email';
import type { EmailOutcome } from '../../src/app/record-events';
import { verifyAudit } from '../../src/db/audit.queries';
import { FACT_SQL } from '../../src/db/reports.queries';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import { EmailTemplates, catalogDisplayNames } from '../../src/integrations/email/templates';
import { parsePolicy } from '../../src/records/policy';
import type { Policy } from '../../src/records/policy';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { TestClock, buildDeps } from '../helpers/app';
import { buildCatalog } from '../helpers/builders';
import {
  DAY_MS,
  accountOf,
  applyNow,
  day,
  ledgerBalanceOf,
  ledgerHarness,
  openAccount,
  reconcileAccounts,
  stripeHarness,
  webhookHarness,
} from '../helpers/billing-rows';
import type { Harness, RowContext } from '../helpers/billing-rows';

/**
 * A reversal is a record of its own, approved by its own rule, that undoes another: tested end to
 * end against each billing provider's stand-in (the ledger, Stripe through its SDK, the signed
 * webhook receiver). After it, the ledger nets to zero for the pair and `reconcile` finds nothing.
 */
let t: TestDb;
let smtp: SmtpStandin;
let sender: SmtpEmailSender;
const templates = EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email'), {
  displayNames: catalogDisplayNames(buildCatalog()),
  strictVariables: true,
});
const POLICY_FILE = path.resolve(__dirname, '..', '..', 'config', 'policy.example.json');
const policy = parsePolicy(JSON.parse(fs.readFileSync(POLICY_FILE, 'utf8')), POLICY_FILE);

/** The example policy's approvers, as Slack would answer for them. */
const directory: ApproverDirectory = {
  emailOf: async (id) => `${id.toLowerCase()}@corp.example`,
  groupsOf: async () => [],
};

beforeAll(async () => {
  t = await createTestDb();
  smtp = await SmtpStandin.start();
  sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'Support <support@acme.example>' });
});
afterAll(async () => {
  sender.close();
  await smtp.close();
  await t.destroy();
});

const email = (ctx: RowContext, recordId: string, outcome: EmailOutcome) => {
  const d = buildDeps(t.db, ctx.clock);
  return sendCustomerEmail({ store: d.store, clock: d.clock, sender, renderer: templates, messageIdDomain: 'lifecycle-desk' }, recordId, outcome);
};
const mailsOf = (recordId: string, outcome: string) => smtp.messages.filter((m) => m.parsed.messageId === `<${recordId}.${outcome}@lifecycle-desk>`);

/** Ledger postings of a set of records, per ledger account: debits minus credits. */
async function netPostings(recordIds: string[]): Promise<Record<string, number>> {
  const rows = await t
    .db('ledger_entries as e')
    .join('ledger_transactions as x', 'x.id', 'e.transaction_id')
    .whereIn('x.record_id', recordIds)
    .groupBy('e.ledger_account')
    .select('e.ledger_account')
    .sum({ debit: 'e.debit_minor', credit: 'e.credit_minor' });
  return Object.fromEntries(
    (rows as unknown as { ledger_account: string; debit: string; credit: string }[]).map((r) => [r.ledger_account, Number(r.debit) - Number(r.credit)]),
  );
}

/** Approves a pending record with as many distinct approvers of the example policy as it needs. */
async function approveAll(ctx: RowContext, recordId: string, approvers: string[]) {
  const d = { ...buildDeps(t.db, ctx.clock), directory };
  for (const who of approvers) {
    const version = (await t.db('lifecycle_records').where({ id: recordId }).first()).version as number;
    const out = await decideApproval(d, { recordId, version, decision: 'approve', approverId: who });
    if (out.status === 'refused') throw new Error(out.message);
    if (out.status === 'decided') return out;
  }
  throw new Error('not enough approvers');
}

const harnesses: [string, (t: TestDb) => Promise<Harness>][] = [
  ['ledger', ledgerHarness],
  ['stripe', () => stripeHarness()],
  ['webhook', () => webhookHarness()],
];

describe.each(harnesses)('against the %s provider', (name, make) => {
  let h: Harness;
  beforeEach(async () => {
    h = await make(t);
  });
  afterEach(async () => {
    await h.close();
  });

  it('a disputed credit resolved as reversed files a reversal that needs one more approver; once applied the pair nets to zero, reconcile agrees, and the customer gets one email each', async () => {
    const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
    const { account } = await openAccount(ctx);
    const { record: credit } = await applyNow(ctx, 'service_credit', account.id, {
      subtype: 'outage',
      ticket_id: '5150',
      effective: 'immediate',
      details: {
        period_start: new Date(Date.now() - 5 * DAY_MS).toISOString(),
        period_end: new Date(Date.now() - 4 * DAY_MS).toISOString(),
        requested_credit: { amount_minor: 300, currency: 'EUR' },
      },
    });
    expect(await ledgerBalanceOf(ctx, account.id)).toBeLessThan(0);
    const deps = buildDeps(t.db, ctx.clock);
    await disputeRecord(deps, {
      recordId: credit.id,
      actor: { role: 'customer', id: 'ops@row.example' },
      body: { reason: 'The credit was granted for the wrong contract' },
    });
    const resolved = await resolveRecord(deps, {
      recordId: credit.id,
      actor: { role: 'supervisor', id: 'U0LDSUP01' },
      body: { outcome: 'reversed', reason: 'Granted on the wrong account; the credit is taken back' },
    });
    expect(resolved.record.state).toBe('resolved');
    const reversal = resolved.reversal!;
    expect(reversal).toMatchObject({
      state: 'submitted',
      reverses_record_id: credit.id,
      kind: 'service_credit',
      amount: { amount_minor: 300, currency: 'EUR' },
      requested_by: 'U0LDSUP01',
    });
    expect((await t.db('lifecycle_records').where({ id: reversal.id }).first()).reverses_record_id).toBe(credit.id);
    expect((await t.db('audit_events').where({ record_id: credit.id, type: 'record.resolve' }).first()).data).toMatchObject({
      outcome: 'reversed',
      reversal_record_id: reversal.id,
    });
    expect(await t.db('audit_events').where({ record_id: credit.id, type: 'record.reversal_filed' }).first()).toBeTruthy();

    // The original was auto-approved (a small credit): the reversal needs 0 + 1 approver of that rule's set.
    const policyDeps = { ...deps, policy, billing: h.provider };
    expect(await evaluatePolicy(policyDeps, reversal.id)).toMatchObject({
      status: 'approval_requested',
      decision: { approvals: 1, rule: 'reversal (small credits)' },
    });
    const request = await t.db('approval_requests').where({ record_id: reversal.id }).first();
    expect(request.approvals_required).toBe(1);
    // The supervisor who filed it cannot approve it (four-eyes).
    const self = await decideApproval({ ...deps, directory }, { recordId: reversal.id, version: 2, decision: 'approve', approverId: 'U0LDSUP01' });
    expect(self).toMatchObject({ status: 'refused', code: 'self_approval' });
    await approveAll(ctx, reversal.id, ['U0LDSUP02']);
    expect(await applyRecord({ ...deps, billing: h.provider }, reversal.id)).toBe('applied');

    // Its own idempotency key, the original's untouched.
    const keys = (await t.db('billing_adjustments').whereIn('record_id', [credit.id, reversal.id]).select('idempotency_key', 'status')).map(
      (r: { idempotency_key: string; status: string }) => `${r.idempotency_key}:${r.status}`,
    );
    expect(keys.sort()).toEqual([`billing.${credit.id}.apply:succeeded`, `billing.${reversal.id}.apply:succeeded`].sort());
    // The ledger nets to zero for the pair, on every ledger account.
    const net = await netPostings([credit.id, reversal.id]);
    expect(Object.keys(net).length).toBeGreaterThan(0);
    for (const [ledgerAccount, sum] of Object.entries(net)) expect([ledgerAccount, sum]).toEqual([ledgerAccount, 0]);
    expect(await ledgerBalanceOf(ctx, account.id)).toBe(0);
    expect((await reconcileAccounts(ctx, account.id)).differences).toEqual([]);
    // The reports' money facts (credits granted, the business metric) net to zero too.
    const facts = await t.db.raw(
      `SELECT coalesce(sum(amount_minor), 0) AS n FROM (${FACT_SQL.money}) f WHERE account = :account AND purpose = 'service_credit'`,
      {
        from: new Date(0),
        to: new Date(Date.now() + 365 * DAY_MS),
        account: account.id,
      },
    );
    expect(Number(facts.rows[0].n)).toBe(0);
    if (name === 'stripe') {
      const { stripe } = h as Awaited<ReturnType<typeof stripeHarness>>;
      expect(stripe.customers.get(account.billing_customer_id!)!.balances.eur ?? 0).toBe(0);
    }
    if (name === 'webhook') {
      const { receiver } = h as Awaited<ReturnType<typeof webhookHarness>>;
      const sent = [...receiver.applied.values()].map((a) => a.body as { type: string; data: unknown }).find((b) => b.type === 'lifecycle.money_reversed')!;
      expect(sent.data).toMatchObject({ record_id: reversal.id, original_record_id: credit.id, original_idempotency_key: `billing.${credit.id}.apply` });
    }

    // One resolution email and one reversal email, each once, even when their jobs run again.
    for (const [id, outcome] of [
      [credit.id, 'resolved'],
      [reversal.id, 'reversed'],
    ] as const) {
      expect(await email(ctx, id, outcome)).toBe('sent');
      expect(await email(ctx, id, outcome)).toBe('already_sent');
      expect(mailsOf(id, outcome)).toHaveLength(1);
    }
    expect(mailsOf(credit.id, 'resolved')[0]!.parsed.text).toMatch(/the change will be reversed/);
    const reversedText = mailsOf(reversal.id, 'reversed')[0]!.parsed.text ?? '';
    expect(reversedText).toMatch(/We have reversed an earlier change to your account .*: Service credit of €3\.00/);
    expect(reversedText).toContain('This takes back €3.00');
    expect(reversedText).toContain('The reason: Granted on the wrong account; the credit is taken back');
    expect((await t.db('lifecycle_records').where({ id: reversal.id }).first()).state).toBe('confirmed');
    expect((await verifyAudit(t.db, account.id)).broken).toBeNull();
  });

  it('a plan change is reversed back to the plan it came from, with the proration it moved taken back', async () => {
    const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
    const { account } = await openAccount(ctx, { plan: 'growth' });
    // The catalog's upgrade rule: now, prorated.
    const { record: upgrade } = await applyNow(ctx, 'upgrade', account.id, { details: { to_plan: 'business' } });
    expect((await accountOf(ctx, account.id)).plan_id).toBe('business');
    const deps = buildDeps(t.db, ctx.clock);
    const reversal = await reverseRecord(deps, {
      recordId: upgrade.id,
      actor: { role: 'agent', id: 'agent-rows' },
      body: { reason: 'Upgraded the wrong workspace' },
    });
    expect(await evaluatePolicy({ ...deps, policy, billing: h.provider }, reversal.id)).toMatchObject({
      status: 'approval_requested',
      decision: { approvals: 1 },
    });
    await approveAll(ctx, reversal.id, ['U0LDSUP01']);
    expect(await applyRecord({ ...deps, billing: h.provider }, reversal.id)).toBe('applied');

    const after = await accountOf(ctx, account.id);
    expect(after.plan_id).toBe('growth');
    expect(after.mrr_minor).toBe(9900);
    const net = await netPostings([upgrade.id, reversal.id]);
    for (const [ledgerAccount, sum] of Object.entries(net)) expect([ledgerAccount, sum]).toEqual([ledgerAccount, 0]);
    expect((await reconcileAccounts(ctx, account.id)).differences).toEqual([]);
    if (name === 'stripe') {
      const { stripe } = h as Awaited<ReturnType<typeof stripeHarness>>;
      const subs = [...stripe.subscriptions.values()].filter((s) => s.customer === account.billing_customer_id);
      expect(subs.map((s) => s.items[0]!.price)).toEqual(['price_growth_eur']);
    }
    expect(await email(ctx, reversal.id, 'reversed')).toBe('sent');
    const text = mailsOf(reversal.id, 'reversed')[0]!.parsed.text ?? '';
    expect(text).toMatch(/Plan change from Growth to Business/);
    expect(text).toMatch(/Your price is again €99\.00 per billing period/);
  });

  it('a scheduled termination is withdrawn before its instant by an approved reversal; what the provider was told is undone', async () => {
    const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
    const { account } = await openAccount(ctx);
    const deps = buildDeps(t.db, ctx.clock);
    const { createRecord } = await import('../../src/app/create-record');
    const { transitionRecord } = await import('../../src/app/transition-record');
    const { record } = await createRecord(deps, {
      request: {
        kind: 'termination',
        subtype: 'breach',
        account_id: account.id,
        requested_by: 'agent-rows',
        reason_code: 'customer_request',
        effective: day(5),
        details: {},
      },
      actor: { role: 'agent', id: 'agent-rows' },
      onProblems: 'reject',
    });
    await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
    expect(await applyRecord({ ...deps, billing: h.provider }, record.id)).toBe('scheduled');

    const reversal = await reverseRecord(deps, {
      recordId: record.id,
      actor: { role: 'agent', id: 'agent-rows' },
      body: { reason: 'The customer renewed their contract' },
    });
    expect(reversal.amount).toBeNull();
    // Terminations need one approver: their reversal needs two.
    expect(await evaluatePolicy({ ...deps, policy, billing: h.provider }, reversal.id)).toMatchObject({
      decision: { approvals: 2, rule: 'reversal (terminations)' },
    });
    expect((await approveAll(ctx, reversal.id, ['U0LDSUP01', 'U0LDSUP02'])).approvers).toEqual(['U0LDSUP01', 'U0LDSUP02']);
    expect(await applyRecord({ ...deps, billing: h.provider }, reversal.id)).toBe('applied');
    const original = await t.db('lifecycle_records').where({ id: record.id }).first();
    expect(original.state).toBe('cancelled');
    expect((await t.db('audit_events').where({ record_id: record.id, type: 'record.cancel' }).first()).actor).toEqual({ role: 'system', id: 'reversal' });
    expect(
      await t
        .db('outbox')
        .where({ key: `billing-unschedule.${record.id}` })
        .first(),
    ).toBeTruthy();
    await unscheduleRecord({ ...deps, billing: h.provider }, record.id);
    expect((await accountOf(ctx, account.id)).status).toBe('active');
    expect((await reconcileAccounts(ctx, account.id)).differences).toEqual([]);
    // The termination's own job at its instant now finds it cancelled and does nothing.
    ctx.clock.set(new Date(Date.now() + 6 * DAY_MS));
    h.advanceTo(new Date(Date.now() + 6 * DAY_MS));
    expect(await applyRecord({ ...deps, billing: h.provider }, record.id)).toBe('not_applicable');
  });
});

it('refuses to reverse what cannot be reversed, and a second live reversal of the same record', async () => {
  const h = await ledgerHarness(t);
  const ctx: RowContext = { t, h, clock: new TestClock(new Date()) };
  const { account } = await openAccount(ctx);
  const deps = buildDeps(t.db, ctx.clock);
  const { record: suspension } = await applyNow(ctx, 'status_change', account.id, {
    effective: 'immediate',
    details: { suspension: { cause: 'unpaid', review_date: day(20) } },
  });
  await expect(reverseRecord(deps, { recordId: suspension.id, actor: { role: 'agent', id: 'a' }, body: { reason: 'x' } })).rejects.toThrow(/reactivation/);
  const { record: credit } = await applyNow(ctx, 'service_credit', account.id, {
    effective: 'immediate',
    details: {
      period_start: new Date(Date.now() - 2 * DAY_MS).toISOString(),
      period_end: new Date(Date.now() - DAY_MS).toISOString(),
      requested_credit: { amount_minor: 100, currency: 'EUR' },
    },
  });
  await expect(reverseRecord(deps, { recordId: credit.id, actor: { role: 'agent', id: 'a' }, body: { reason: ' ' } })).rejects.toThrow(/reason is required/);
  const first = await reverseRecord(deps, { recordId: credit.id, actor: { role: 'agent', id: 'a' }, body: { reason: 'wrong account' } });
  await expect(reverseRecord(deps, { recordId: credit.id, actor: { role: 'agent', id: 'a' }, body: { reason: 'again' } })).rejects.toThrow(
    new RegExp(`already has a reversal, ${first.id}`),
  );
  await expect(reverseRecord(deps, { recordId: first.id, actor: { role: 'agent', id: 'a' }, body: { reason: 'undo the undo' } })).rejects.toThrow(
    /itself a reversal/,
  );
});

describe('the reversal approval rule', () => {
  it('is the original approval plus one, from the original approvers; policy.reversals overrides it', async () => {
    const { decideReversal } = await import('../../src/records/policy');
    const original = { rule: 'credits', approvals_required: 1, approvers: { user_ids: ['U0LDSUP01', 'U0LDSUP02'], user_groups: [] } };
    expect(decideReversal(policy, original)).toMatchObject({ rule: 'reversal (credits)', approvals: 2, approvers: original.approvers });
    expect(decideReversal(policy, { ...original, approvals_required: 2 })).toMatchObject({ approvals: 3 });
    // Two people cannot give three distinct approvals: the escalation set is added.
    expect(decideReversal(policy, { ...original, approvals_required: 2 }).approvers.user_groups).toEqual(expect.arrayContaining(['S0LDLEADS']));
    const custom: Policy = parsePolicy(
      { ...JSON.parse(fs.readFileSync(POLICY_FILE, 'utf8')), reversals: { approvals: 1, approvers: { user_groups: ['S0FINANCE1'] } } },
      'inline',
    );
    expect(decideReversal(custom, original)).toMatchObject({ approvals: 1, approvers: { user_ids: [], user_groups: ['S0FINANCE1'] } });
    expect(() => parsePolicy({ ...JSON.parse(fs.readFileSync(POLICY_FILE, 'utf8')), reversals: { approvals: 4 } }, 'inline')).toThrow(
      /reversals.approvals: expected 1, 2 or 3/,
    );
  });
});
