import { KnexRecordQuerySource } from '../../src/db/record.queries';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebClient } from '@slack/web-api';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { applyRecord } from '../../src/app/apply-record';
import { createRecord } from '../../src/app/create-record';
import { decideApproval } from '../../src/app/decide-approval';
import type { ApproverDirectory } from '../../src/app/decide-approval';
import { sendCustomerEmail } from '../../src/app/send-email';
import { transitionRecord } from '../../src/app/transition-record';
import { verifyAudit } from '../../src/db/audit.queries';
import { getRecordWithEvents } from '../../src/db/record.queries';
import { KnexTransactionRunner } from '../../src/db/store';
import { buildHttpApp } from '../../src/http/server';
import { LedgerBillingProvider } from '../../src/integrations/billing/ledger.provider';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import { EmailTemplates, catalogDisplayNames } from '../../src/integrations/email/templates';
import { createSlackApp, SLACK_EVENTS_PATH } from '../../src/integrations/slack/slack.app';
import type { SlackApp } from '../../src/integrations/slack/slack.app';
import { SlackDirectory } from '../../src/integrations/slack/slack.directory';
import { SlackRoles } from '../../src/integrations/slack/slack.roles';
import { SlackNotifier } from '../../src/integrations/slack/slack.notifier';
import { slackSignatureHeaders } from '../../src/integrations/slack/signature';
import { createLogger } from '../../src/observability/logger';
import { Metrics } from '../../src/observability/metrics';
import { checkPartialAmount } from '../../src/records/partial-approval';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { FakeSlack } from '../helpers/fake-slack';
import { buildAccount, buildCatalog, buildRequest } from '../helpers/builders';
import type { RequestOverrides } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';

/**
 * The Slack surfaces of the lifecycle beyond approve/reject, driven by signed payloads through
 * the real HTTP receiver and Bolt: partial approval from the approval modal, and (for
 * supervisors) dispute and resolve from the finished approval message.
 */
const TOKEN = 'xoxb-test-token';
const SECRET = 'slack-signing-secret-for-tests';
const CHANNEL = 'C0APPROVALS';

let t: TestDb;
let slack: FakeSlack;
let slackApp: SlackApp;
let http: FastifyInstance;
let redis: Redis;
let base: string;
let notifier: SlackNotifier;
let smtp: SmtpStandin;
let sender: SmtpEmailSender;
const templates = EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email'), {
  displayNames: catalogDisplayNames(buildCatalog()),
  strictVariables: true,
});
const deps = () => buildDeps(t.db);
/** An event as it is read back (personal values such as reasons resolved from their side table). */
const eventOf = async (recordId: string, type: string) => (await getRecordWithEvents(t.db, recordId))!.events.find((e) => e.type === type)!;

beforeAll(async () => {
  t = await createTestDb();
  // Billed since last year, so a credit may cover a window ten days back.
  await seedAccounts(t.db, buildAccount({ term_start: '2026-03-01T00:00:00Z', term_end: '2026-04-01T00:00:00Z', billing_started_at: '2025-01-01T00:00:00Z' }));
  slack = await FakeSlack.start({ token: TOKEN });
  for (const [id, email] of [
    ['USUP1', 'sup1@corp.example'],
    ['USUP2', 'sup2@corp.example'],
    ['UAGENT', 'agent@corp.example'],
    ['UOUT', 'out@corp.example'],
  ] as const) {
    slack.users.set(id, { id, email, name: id.toLowerCase() });
  }
  const client = new WebClient(TOKEN, { slackApiUrl: slack.url });
  notifier = new SlackNotifier(client, t.db, CHANNEL, (id) => `https://acme.zendesk.com/agent/tickets/${id}`);
  slackApp = createSlackApp({
    botToken: TOKEN,
    signingSecret: SECRET,
    apiUrl: slack.url,
    queries: new KnexRecordQuerySource(t.db),
    app: deps(),
    directory: new SlackDirectory(client),
    roles: new SlackRoles({ user_groups: { S0LDSUPERVISORS: 'supervisor' } }, new SlackDirectory(client, 0)),
    logger: createLogger('silent'),
    ticketUrl: (id) => `https://acme.zendesk.com/agent/tickets/${id}`,
    approverGroups: [],
  });
  redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
  http = await buildHttpApp({
    db: t.db,
    queries: new KnexRecordQuerySource(t.db),
    redis,
    app: deps(),
    logger: createLogger('silent'),
    metrics: new Metrics({ defaultMetrics: false }),
    apiToken: undefined,
    rawHandlers: new Map([[SLACK_EVENTS_PATH, slackApp.requestListener!]]),
  });
  await http.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(http.server.address() as AddressInfo).port}`;
  smtp = await SmtpStandin.start();
  sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'Support <support@acme.example>' });
});

afterAll(async () => {
  sender.close();
  await smtp.close();
  await http.close();
  redis.disconnect();
  await slack.close();
  await t.destroy();
});

/** A request waiting for `required` approvals by USUP1/USUP2, with its Slack message posted. */
async function pendingRecord<K extends 'service_credit' | 'termination'>(kind: K, overrides: RequestOverrides<K>, required: 1 | 2 = 1) {
  const d = deps();
  const { record } = await createRecord(d, {
    request: buildRequest(kind, { requested_by: 'agent@corp.example', ticket_id: '777', ...overrides }),
    actor: { role: 'agent', id: 'agent@corp.example' },
    onProblems: 'reject',
  });
  const { record: p } = await transitionRecord(d, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } });
  await new KnexTransactionRunner(t.db).transaction((uow) =>
    uow.approvals.create({
      record_id: p.id,
      rule: 'credits',
      approvals_required: required,
      approvers: { user_ids: ['USUP1', 'USUP2'], user_groups: [] },
      escalation: { user_ids: [], user_groups: [] },
      risk: [],
      reminder_after_hours: 4,
      escalate_after_hours: 24,
      channel: null,
      messages: [],
      requested_at: new Date().toISOString(),
      decided_at: null,
      outcome: null,
    }),
  );
  await notifier.postApprovalRequest(p.id, 'initial');
  const posted = slack.callsOf('chat.postMessage').at(-1)!;
  return { record: p, posted };
}

const CREDIT_300 = { period_start: '2026-03-05T00:00:00Z', period_end: '2026-03-06T00:00:00Z', requested_credit: { amount_minor: 300, currency: 'EUR' } };

async function postSlack(form: Record<string, string>) {
  const body = new URLSearchParams(form).toString();
  const res = await fetch(base + SLACK_EVENTS_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignatureHeaders(SECRET, Math.floor(Date.now() / 1000), body) },
    body,
  });
  return { status: res.status, text: await res.text() };
}

const buttonClick = (user: string, actionId: string, value: string, ts: string) => ({
  payload: JSON.stringify({
    type: 'block_actions',
    team: { id: 'T0FAKE001' },
    user: { id: user, name: user.toLowerCase() },
    api_app_id: 'A0LIFECYCLE',
    token: 'legacy',
    trigger_id: `trigger-${Math.random()}`,
    channel: { id: CHANNEL, name: 'approvals' },
    container: { type: 'message', message_ts: ts, channel_id: CHANNEL },
    message: { ts, type: 'message', text: 'approval' },
    response_url: slack.responseUrl(),
    actions: [{ type: 'button', action_id: actionId, block_id: 'approval_actions', value, action_ts: String(Date.now() / 1000) }],
  }),
});

const viewSubmission = (
  user: string,
  callbackId: string,
  privateMetadata: string,
  values: Record<string, Record<string, { type: string; value?: string; selected_option?: { value: string } }>>,
) => ({
  payload: JSON.stringify({
    type: 'view_submission',
    team: { id: 'T0FAKE001' },
    user: { id: user, name: user.toLowerCase() },
    api_app_id: 'A0LIFECYCLE',
    view: { id: 'V1', callback_id: callbackId, private_metadata: privateMetadata, state: { values } },
  }),
});

const until = async (cond: () => Promise<boolean> | boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
};

type Blocks = { type: string; elements?: { action_id: string; value: string; text: { text: string } }[] }[];
const buttonOf = (posted: { args: Record<string, unknown> }, actionId: string) =>
  (posted.args.blocks as Blocks).find((b) => b.type === 'actions')?.elements?.find((e) => e.action_id === actionId);

const partialValues = (amount: string, reason: string) => ({
  amount: { amount_input: { type: 'plain_text_input', value: amount } },
  reason: { reason_input: { type: 'plain_text_input', value: reason } },
});

describe('partial approval', () => {
  it('the approval modal lowers a credit with a reason: billing applies the decided amount, the email states it, the request stays in the trail', async () => {
    const { record, posted } = await pendingRecord('service_credit', { details: CREDIT_300 });
    const button = buttonOf(posted, 'approval_approve_partial')!;
    expect(button.text.text).toBe('Approve a lower credit…');
    await postSlack(buttonClick('USUP1', 'approval_approve_partial', button.value, '1.5'));
    await until(() => slack.callsOf('views.open').some((c) => (c.args.view as { callback_id: string }).callback_id === 'approval_partial_modal'));
    const view = slack.callsOf('views.open').at(-1)!.args.view as { callback_id: string; private_metadata: string; blocks: unknown[] };
    expect(JSON.stringify(view.blocks)).toContain('€3.00');

    // Refused in the modal, nothing decided: more than requested, zero, not a number, no reason.
    for (const [amount, reason, field, message] of [
      ['5.00', 'partial outage', 'amount', /less than the €3\.00 requested/],
      ['0', 'partial outage', 'amount', /above zero/],
      ['1,2.3.4', 'partial outage', 'amount', /Enter the amount in EUR/],
      ['1.20', '  ', 'reason', /reason is required/],
    ] as const) {
      const res = await postSlack(viewSubmission('USUP1', 'approval_partial_modal', view.private_metadata, partialValues(amount, reason)));
      expect(JSON.parse(res.text)).toMatchObject({ response_action: 'errors', errors: { [field]: expect.stringMatching(message) } });
    }
    expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');

    await postSlack(
      viewSubmission('USUP1', 'approval_partial_modal', view.private_metadata, partialValues('1.20', 'The outage affected only 40% of their seats')),
    );
    await until(async () => (await t.db('lifecycle_records').where({ id: record.id }).first()).state === 'approved');
    const approved = await t.db('lifecycle_records').where({ id: record.id }).first();
    expect(Number(approved.amount_minor)).toBe(-120);
    const created = await eventOf(record.id, 'record.created');
    expect(created.data.amount).toEqual({ amount_minor: -300, currency: 'EUR' });
    const lowered = await eventOf(record.id, 'record.lower_amount');
    expect(lowered.actor).toMatchObject({ role: 'supervisor', id: 'USUP1' });
    expect(lowered.data).toMatchObject({
      reason: 'The outage affected only 40% of their seats',
      requested_amount: { amount_minor: -300, currency: 'EUR' },
      decided_amount: { amount_minor: -120, currency: 'EUR' },
    });

    const d = deps();
    expect(await applyRecord({ ...d, billing: new LedgerBillingProvider(t.db) }, record.id)).toBe('applied');
    const posting = await t
      .db('ledger_entries as e')
      .join('ledger_transactions as x', 'x.id', 'e.transaction_id')
      .where('x.idempotency_key', `billing.${record.id}.apply`)
      .where('e.ledger_account', 'balance:acc_acme')
      .first('e.credit_minor');
    expect(Number(posting.credit_minor)).toBe(120);
    expect(
      await sendCustomerEmail({ store: d.store, clock: d.clock, sender, renderer: templates, messageIdDomain: 'lifecycle-desk' }, record.id, 'credit_granted'),
    ).toBe('sent');
    const mail = smtp.messages.find((m) => m.parsed.messageId === `<${record.id}.credit_granted@lifecycle-desk>`)!;
    expect(mail.parsed.text).toContain('€1.20');
    expect(`${mail.parsed.text}${mail.parsed.html}`).not.toContain('€3.00');
    expect((await verifyAudit(t.db, 'acc_acme')).broken).toBeNull();
  });

  it('with two approvers, the first lowers the fee and the message is refreshed; the second approves the lowered amount', async () => {
    const { record } = await pendingRecord('termination', { effective: 'immediate', details: {} }, 2);
    expect(Number(record.amount!.amount_minor)).toBe(50000);
    const directory: ApproverDirectory = { emailOf: async (id) => `${id.toLowerCase()}@corp.example`, groupsOf: async () => [] };
    const d = { ...deps(), directory };
    const first = await decideApproval(d, {
      recordId: record.id,
      version: record.version,
      decision: 'approve',
      approverId: 'USUP1',
      reason: 'Long-standing customer; half the fee',
      lowerTo: '250',
    });
    expect(first).toMatchObject({
      status: 'recorded',
      approvals: 1,
      required: 2,
      record: { amount: { amount_minor: 25000, currency: 'EUR' }, version: record.version + 1 },
    });
    expect(await countRows(t.db, 'outbox', { key: `approval-update.${record.id}.v${record.version + 1}` })).toBe(1);
    expect(await countRows(t.db, 'outbox', { key: `approval-request.${record.id}.v${record.version + 1}` })).toBe(0);
    await notifier.updateApprovalMessages(record.id);
    expect(JSON.stringify(slack.callsOf('chat.update').at(-1)!.args.blocks)).toContain('€250.00');
    // A click on the old message is stale; on the refreshed one it approves.
    expect(await decideApproval(d, { recordId: record.id, version: record.version, decision: 'approve', approverId: 'USUP2' })).toMatchObject({
      status: 'refused',
      code: 'stale',
    });
    expect(await decideApproval(d, { recordId: record.id, version: record.version + 1, decision: 'approve', approverId: 'USUP2' })).toMatchObject({
      status: 'decided',
      outcome: 'approved',
    });
    expect(Number((await t.db('lifecycle_records').where({ id: record.id }).first()).amount_minor)).toBe(25000);
  });

  it('only credits and fees can be lowered', () => {
    const base = {
      id: 'r',
      subtype: 'x',
      account_id: 'a',
      ticket_id: null,
      requested_by: 'a',
      requester: null,
      reason_code: 'r',
      reason_text: '',
      effective: 'immediate',
      effective_at: null,
      state: 'pending_approval',
      version: 2,
      details: {},
      risk_flags: [],
      problems: [],
      created_at: '',
      updated_at: '',
    } as const;
    expect(checkPartialAmount({ ...base, kind: 'upgrade', amount: { amount_minor: 1000, currency: 'EUR' } }, '5', 'why')).toMatchObject({
      ok: false,
      code: 'not_lowerable',
    });
    expect(checkPartialAmount({ ...base, kind: 'service_credit', amount: { amount_minor: -1500, currency: 'JPY' } }, '1000.5', 'why')).toMatchObject({
      ok: false,
      code: 'amount',
      message: expect.stringMatching(/JPY has 0 decimal places/),
    });
    expect(checkPartialAmount({ ...base, kind: 'service_credit', amount: { amount_minor: -1500, currency: 'JPY' } }, '1000', 'why')).toMatchObject({
      ok: true,
      patch: { amount: { amount_minor: -1000, currency: 'JPY' } },
    });
  });
});

describe('dispute and resolve from the finished approval message', () => {
  /** An approved (in Slack), applied credit whose message was updated to its decided form. */
  async function appliedViaSlack() {
    const { record, posted } = await pendingRecord('service_credit', { details: CREDIT_300 });
    await postSlack(buttonClick('USUP1', 'approval_approve', buttonOf(posted, 'approval_approve')!.value, '2.1'));
    await until(async () => (await t.db('lifecycle_records').where({ id: record.id }).first()).state === 'approved');
    expect(await applyRecord({ ...deps(), billing: new LedgerBillingProvider(t.db) }, record.id)).toBe('applied');
    await notifier.updateApprovalMessages(record.id);
    const update = slack.callsOf('chat.update').at(-1)!;
    return { record, update };
  }
  const disputeButton = (update: { args: Record<string, unknown> }) =>
    (update.args.blocks as Blocks).find((b) => b.type === 'actions' && b.elements?.some((e) => e.action_id === 'record_dispute_resolve'))!.elements![0]!;
  const openedView = async (callbackId: string, before: number) => {
    await until(() =>
      slack
        .callsOf('views.open')
        .slice(before)
        .some((c) => (c.args.view as { callback_id: string }).callback_id === callbackId),
    );
    return slack
      .callsOf('views.open')
      .slice(before)
      .find((c) => (c.args.view as { callback_id: string }).callback_id === callbackId)!.args.view as { private_metadata: string; blocks: unknown[] };
  };

  it('a supervisor disputes with referenced documents and resolves with an outcome; others are refused; the message follows', async () => {
    const { record, update } = await appliedViaSlack();
    const button = disputeButton(update);
    expect(button.text.text).toBe('Dispute…');

    // Someone who does not approve these requests: the modal opens, the submission is refused.
    let before = slack.callsOf('views.open').length;
    await postSlack(buttonClick('UOUT', 'record_dispute_resolve', button.value, '2.2'));
    let view = await openedView('record_dispute_modal', before);
    const ephemerals = slack.callsOf('chat.postEphemeral').length;
    await postSlack(
      viewSubmission('UOUT', 'record_dispute_modal', view.private_metadata, {
        reason: { reason_input: { type: 'plain_text_input', value: 'wrong amount' } },
        documents: { documents_input: { type: 'plain_text_input', value: '' } },
      }),
    );
    await until(() => slack.callsOf('chat.postEphemeral').length > ephemerals);
    expect(slack.callsOf('chat.postEphemeral').at(-1)!.args).toMatchObject({
      user: 'UOUT',
      text: expect.stringMatching(/Only the supervisors who approve these requests/),
    });
    expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('applied');

    before = slack.callsOf('views.open').length;
    await postSlack(buttonClick('USUP2', 'record_dispute_resolve', button.value, '2.3'));
    view = await openedView('record_dispute_modal', before);
    // A document pasted inline, or a link that is not https, is refused in the modal.
    const inline = await postSlack(
      viewSubmission('USUP2', 'record_dispute_modal', view.private_metadata, {
        reason: { reason_input: { type: 'plain_text_input', value: 'Customer says the outage was longer' } },
        documents: { documents_input: { type: 'plain_text_input', value: '4455667788\ndata:application/pdf;base64,JVBERi0xLjQK' } },
      }),
    );
    expect(JSON.parse(inline.text)).toMatchObject({ response_action: 'errors', errors: { documents: expect.stringMatching(/^line 2: .*https URL/) } });
    await postSlack(
      viewSubmission('USUP2', 'record_dispute_modal', view.private_metadata, {
        reason: { reason_input: { type: 'plain_text_input', value: 'Customer says the outage was longer' } },
        documents: { documents_input: { type: 'plain_text_input', value: '4455667788\nhttps://files.acme.example/status-page.png' } },
      }),
    );
    await until(async () => (await t.db('lifecycle_records').where({ id: record.id }).first()).state === 'disputed');
    const disputed = await eventOf(record.id, 'record.dispute');
    expect(disputed.actor).toMatchObject({ role: 'supervisor', id: 'USUP2' });
    expect(disputed.data.documents).toEqual([{ zendesk_attachment_id: '4455667788' }, { url: 'https://files.acme.example/status-page.png' }]);
    const v = (await t.db('lifecycle_records').where({ id: record.id }).first()).version;
    expect(await countRows(t.db, 'outbox', { key: `approval-update.${record.id}.v${v}` })).toBe(1);

    await notifier.updateApprovalMessages(record.id);
    const refreshed = slack.callsOf('chat.update').at(-1)!;
    expect(JSON.stringify(refreshed.args.blocks)).toContain('Disputed.');
    const resolveButton = disputeButton(refreshed);
    expect(resolveButton.text.text).toBe('Resolve dispute…');
    before = slack.callsOf('views.open').length;
    await postSlack(buttonClick('USUP1', 'record_dispute_resolve', resolveButton.value, '2.4'));
    view = await openedView('record_resolve_modal', before);
    expect(JSON.stringify(view.blocks)).toMatch(/upheld.*adjusted.*reversed/);
    const noOutcome = await postSlack(
      viewSubmission('USUP1', 'record_resolve_modal', view.private_metadata, {
        reason: { reason_input: { type: 'plain_text_input', value: 'x' } },
        outcome: { outcome_select: { type: 'static_select' } },
      }),
    );
    expect(JSON.parse(noOutcome.text)).toMatchObject({ response_action: 'errors', errors: { outcome: 'Choose an outcome.' } });
    await postSlack(
      viewSubmission('USUP1', 'record_resolve_modal', view.private_metadata, {
        reason: { reason_input: { type: 'plain_text_input', value: 'Status page confirms 26 hours; a second credit is filed for the extra day' } },
        outcome: { outcome_select: { type: 'static_select', selected_option: { value: 'adjusted' } } },
      }),
    );
    await until(async () => (await t.db('lifecycle_records').where({ id: record.id }).first()).state === 'resolved');
    const resolved = await eventOf(record.id, 'record.resolve');
    expect(resolved.actor).toMatchObject({ role: 'supervisor', id: 'USUP1' });
    expect(resolved.data).toMatchObject({ outcome: 'adjusted', reason: 'Status page confirms 26 hours; a second credit is filed for the extra day' });
    expect(await countRows(t.db, 'outbox', { key: `email.${record.id}.resolved` })).toBe(1);
    await notifier.updateApprovalMessages(record.id);
    const final = JSON.stringify(slack.callsOf('chat.update').at(-1)!.args.blocks);
    expect(final).toContain('Dispute resolved');
    expect(final).not.toContain('record_dispute_resolve');
  });

  it('a dispute resolved as reversed in Slack files the reversal for its own approval', async () => {
    const { record, update } = await appliedViaSlack();
    const d = deps();
    const { disputeRecord } = await import('../../src/app/dispute-record');
    await disputeRecord(d, { recordId: record.id, actor: { role: 'agent', id: 'agent@corp.example' }, body: { reason: 'credited twice' } });
    const before = slack.callsOf('views.open').length;
    await postSlack(buttonClick('USUP2', 'record_dispute_resolve', disputeButton(update).value, '3.1'));
    const view = await openedView('record_resolve_modal', before);
    await postSlack(
      viewSubmission('USUP2', 'record_resolve_modal', view.private_metadata, {
        reason: { reason_input: { type: 'plain_text_input', value: 'Credited twice for the same outage' } },
        outcome: { outcome_select: { type: 'static_select', selected_option: { value: 'reversed' } } },
      }),
    );
    await until(async () => (await t.db('lifecycle_records').where({ id: record.id }).first()).state === 'resolved');
    const reversal = await t.db('lifecycle_records').where({ reverses_record_id: record.id }).first();
    expect(reversal).toMatchObject({ state: 'submitted', requested_by: 'USUP2', kind: 'service_credit' });
    expect(Number(reversal.amount_minor)).toBe(300);
  });
});
