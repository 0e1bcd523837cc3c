import { summarizeAccount, summarizeRecord, eventWords } from '../../src/app/record-summary';
import type { RecordFacts, SummaryContext } from '../../src/app/record-summary';
import type { LifecycleRecord } from '../../src/records/kinds';
import type { AuditEvent } from '../../src/records/audit';
import { buildAccount, buildCatalog } from '../helpers/builders';
import { problemFields } from '../../src/integrations/zendesk/inbound';
import { parseFieldMap } from '../../src/integrations/zendesk/field-map';
import fs from 'node:fs';
import path from 'node:path';

/** The neutral record summary: one place that says what a record is, costs, needs and did. */

const fieldMap = parseFieldMap(JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../config/field-map.example.json'), 'utf8')), 'example');
const ctx: SummaryContext = { catalog: buildCatalog(), fields: problemFields(fieldMap) };
const EUR = (amount_minor: number) => ({ amount_minor, currency: 'EUR' });

const record = (over: Partial<LifecycleRecord> = {}): LifecycleRecord => ({
  id: 'r1',
  kind: 'service_credit',
  subtype: 'sla_breach',
  account_id: 'acc_acme',
  ticket_id: '42',
  requested_by: 'ann@support.example',
  requester: null,
  reason_code: 'outage',
  reason_text: 'API down',
  effective: 'immediate',
  effective_at: '2026-03-16T12:00:00.000Z',
  state: 'pending_approval',
  version: 3,
  details: {
    requested_credit: EUR(5000),
    computed_credit: EUR(4000),
    period_charges: EUR(9900),
    verification: { result: 'mismatch', note: 'measured uptime 98% < 99%: 10%' },
  },
  amount: EUR(-5000),
  risk_flags: ['credit_above_mrr_share'],
  problems: [],
  created_at: '2026-03-16T12:00:00.000Z',
  updated_at: '2026-03-16T12:00:00.000Z',
  ...over,
});

const event = (type: string, data: Record<string, unknown> = {}, actor: AuditEvent['actor'] = { role: 'system', id: 'policy' }): AuditEvent => ({
  id: '1',
  account_id: 'acc_acme',
  seq: 1,
  record_id: 'r1',
  type,
  actor,
  occurred_at: '2026-03-16T12:00:01.000Z',
  data,
  prev_hash: null,
  hash: 'h',
});

const facts = (over: Partial<RecordFacts> = {}): RecordFacts => ({
  record: record(),
  events: [],
  approval: null,
  decisions: [],
  preview: null,
  adjustments: [],
  emails: [],
  ...over,
});

it('puts the money in one place: credit asked and computed, the provider preview beside ours', () => {
  const s = summarizeRecord(
    facts({
      preview: {
        provider: 'stripe',
        amount: EUR(-4999),
        computed: EUR(-5000),
        difference: EUR(1),
        outstanding: null,
        prorationDate: null,
        unavailable: null,
        created_at: '2026-03-16T12:00:02.000Z',
      },
    }),
    ctx,
  );
  expect(s.money.net).toEqual({ amount_minor: -5000, currency: 'EUR', text: '-€50.00' });
  expect(s.money.sla_credit).toEqual({
    requested: expect.objectContaining({ text: '€50.00' }),
    computed: expect.objectContaining({ text: '€40.00' }),
    period_charges: expect.objectContaining({ text: '€99.00' }),
    verification: 'mismatch',
    note: 'measured uptime 98% < 99%: 10%',
  });
  expect(s.money.provider_preview).toMatchObject({
    provider: 'stripe',
    amount: { text: '-€49.99' },
    computed: { text: '-€50.00' },
    difference: { text: '€0.01' },
  });
  expect(s.money.proration).toBeNull();
});

it('says who approved, how many more are needed, who may still approve, and links the Slack message', () => {
  const s = summarizeRecord(
    facts({
      approval: {
        record_id: 'r1',
        rule: 'large credits',
        approvals_required: 2,
        approvers: { user_ids: ['U1', 'U2'], user_groups: ['S1'] },
        escalation: { user_ids: [], user_groups: [] },
        risk: [{ flag: 'credit_above_mrr_share', message: 'credit €50.00 is more than 50% of MRR' }],
        reminder_after_hours: null,
        escalate_after_hours: null,
        channel: 'C0LDAPPROVALS',
        messages: [{ ts: '1773662400.000100', kind: 'initial' }],
        requested_at: '2026-03-16T12:00:01.000Z',
        decided_at: null,
        outcome: null,
      },
      decisions: [{ approver_id: 'U1', decision: 'approve', reason: null, record_version: 3, decided_at: '2026-03-16T12:05:00.000Z' }],
    }),
    ctx,
  );
  expect(s.approvals).toMatchObject({ required: 2, approved_by: [{ id: 'U1' }], still_needed: 1, approvers: { user_ids: ['U1', 'U2'], user_groups: ['S1'] } });
  expect(s.approvals!.slack).toEqual({ channel: 'C0LDAPPROVALS', ts: '1773662400.000100', url: 'https://slack.com/archives/C0LDAPPROVALS/p1773662400000100' });
  expect(s.risk).toEqual([{ flag: 'credit_above_mrr_share', message: 'credit €50.00 is more than 50% of MRR' }]);
});

it('reports billing per effect, with a failure and its error, and the customer email', () => {
  const s = summarizeRecord(
    facts({
      record: record({ state: 'failed' }),
      adjustments: [
        {
          step: 'apply',
          provider: 'stripe',
          status: 'succeeded',
          attempts: 1,
          last_error: null,
          effect: { type: 'credit', amount: EUR(5000), period_start: 'a', period_end: 'b', paid_invoice: 'credit' },
          result: { providerRef: 'cn_1', money: [{ type: 'credit', purpose: 'service_credit', amount: EUR(5000), destination: 'balance' }] },
        },
        {
          step: 'fee',
          provider: 'stripe',
          status: 'failed',
          attempts: 5,
          last_error: 'card_declined',
          effect: { type: 'fee', amount: EUR(100) },
          result: null,
        },
      ],
      emails: [{ outcome: 'credit_granted', status: 'sent', subject: 'A credit of €50.00', sent_at: '2026-03-16T12:10:00.000Z' }],
    }),
    ctx,
  );
  expect(s.billing.status).toBe('failed');
  expect(s.billing.effects).toEqual([
    {
      step: 'apply',
      effect: 'credit',
      status: 'succeeded',
      provider: 'stripe',
      attempts: 1,
      error: null,
      confirmed: [{ type: 'credit', purpose: 'service credit', amount: expect.objectContaining({ text: '€50.00' }), destination: 'balance' }],
    },
    { step: 'fee', effect: 'fee', status: 'failed', provider: 'stripe', attempts: 5, error: 'card_declined', confirmed: [] },
  ]);
  expect(s.emails).toEqual([{ outcome: 'credit_granted', status: 'sent', subject: 'A credit of €50.00', sent_at: '2026-03-16T12:10:00.000Z' }]);
});

it('names the ticket field of each draft problem, from a request path or a mapping problem', () => {
  const s = summarizeRecord(
    facts({
      record: record({
        state: 'draft',
        problems: [
          { field: 'details.merge.target_account_id', message: 'no account "x"' },
          { field: 'Amount (field 360001000011)', message: '"abc" is not an amount' },
          { field: '', message: 'whole request' },
        ],
      }),
    }),
    ctx,
  );
  expect(s.problems).toEqual([
    {
      field: 'details.merge.target_account_id',
      message: 'no account "x"',
      ticket_field: 'Merge into account (field 360001000017)',
      field_name: 'merge_target_account_id',
    },
    { field: 'Amount (field 360001000011)', message: '"abc" is not an amount', ticket_field: 'Amount (field 360001000011)', field_name: 'amount' },
    { field: '', message: 'whole request', ticket_field: null, field_name: null },
  ]);
});

it('shows a termination fee (waived or not), a refund and a plan change proration', () => {
  const t = summarizeRecord(
    facts({
      record: record({
        kind: 'termination',
        subtype: 'customer_initiated',
        details: { early_termination_fee: EUR(50000), fee_waived: true, refund: EUR(1200) },
        amount: EUR(0),
      }),
    }),
    ctx,
  );
  expect(t.money.fee).toEqual({ amount: expect.objectContaining({ text: '€500.00' }), waived: true });
  expect(t.money.refund).toMatchObject({ text: '€12.00' });
  const proration = {
    period_start: '2026-03-01T00:00:00.000Z',
    period_end: '2026-04-01T00:00:00.000Z',
    change_at: '2026-03-16T12:00:00.000Z',
    credit: EUR(-4950),
    charge: EUR(14950),
    net: EUR(10000),
  };
  const u = summarizeRecord(
    facts({ record: record({ kind: 'upgrade', subtype: 'subscription', details: { price_delta: EUR(20000), proration }, amount: EUR(10000) }) }),
    ctx,
  );
  expect(u.money.proration).toMatchObject({ credit: { text: '-€49.50' }, charge: { text: '€149.50' }, net: { text: '€100.00' } });
  expect(u.money.price_delta).toMatchObject({ text: '€200.00' });
  expect(u.money.sla_credit).toBeNull();
});

it('words the timeline for agents', () => {
  const agent = { role: 'agent' as const, id: 'ann@support.example', name: 'Ann Agent' };
  expect(eventWords(event('record.created', { state: 'draft' }, agent))).toBe('Filed by Ann Agent as a draft (information missing or wrong)');
  expect(eventWords(event('record.request_approval'))).toBe('Sent to Slack for approval');
  expect(eventWords(event('record.approve', {}, { role: 'supervisor', id: 'U1' }))).toBe('Approved by U1');
  expect(eventWords(event('record.reject', { reason: 'not in contract' }, { role: 'supervisor', id: 'U1' }))).toBe('Rejected by U1: not in contract');
  expect(eventWords(event('email.sent', { subject: 'Your plan' }))).toBe('Email sent to the customer: "Your plan"');
  expect(eventWords(event('access.denied', { action: 'retry_record', role: 'agent' }, agent))).toBe(
    'Ann Agent was refused: retry record is not allowed for agent',
  );
  expect(eventWords(event('billing.external_change'))).toBe('billing: external change');
});

it('summarises the account: plan name, status, MRR and its last records', () => {
  const a = summarizeAccount(buildAccount(), [record({ state: 'confirmed' })], buildCatalog());
  expect(a).toMatchObject({
    id: 'acc_acme',
    name: 'Acme GmbH',
    plan_name: expect.any(String),
    status: 'active',
    mrr: { text: '€99.00' },
    term_end: '2026-04-01T00:00:00.000Z',
  });
  expect(a.recent).toEqual([
    {
      id: 'r1',
      kind_label: 'Service credit',
      subtype: 'sla breach',
      state: 'confirmed',
      state_words: 'Applied and confirmed to the customer by email',
      ticket_id: '42',
      created_at: '2026-03-16T12:00:00.000Z',
    },
  ]);
});
