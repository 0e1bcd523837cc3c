import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';
import { TEST_API_TOKEN, startTestService, until, zendeskHeaders } from '../helpers/service';
import { applyRecord } from '../../src/app/apply-record';
import { LedgerBillingProvider } from '../../src/integrations/billing/ledger.provider';
import type { TestService } from '../helpers/service';
import { triggerBody } from '../fixtures/zendesk-trigger';
import { slackInteractionRequest } from '../helpers/fake-slack';
import { verifyAudit } from '../../src/db/audit.queries';

/** The whole pipeline, as in production: webhook → record → policy → Slack → billing → ticket → email. */

let t: TestDb;
let s: TestService;
const DAY = 86_400_000;

beforeAll(async () => {
  t = await createTestDb();
  const now = Date.now();
  const term = { term_start: new Date(now - 10 * DAY).toISOString(), term_end: new Date(now + 20 * DAY).toISOString(), contacts: ['ops@acme.example'] };
  await seedAccounts(
    t.db,
    buildAccount({ id: 'acc_acme', name: 'Acme GmbH', mrr_minor: 9900, ...term }),
    buildAccount({ id: 'acc_big', name: 'Big Corp', plan_id: 'enterprise', mrr_minor: 99_900, ...term }),
    buildAccount({ id: 'acc_mid', name: 'Mid Ltd', plan_id: 'business', mrr_minor: 29_900, ...term }),
  );
  s = await startTestService(t);
  s.stack.zendesk.users.set(1, { id: 1, name: 'Olga Ops', email: 'ops@acme.example' });
  s.stack.zendesk.users.set(2, { id: 2, name: 'Agent Smith', email: 'agent@support.example' });
  // Assigned: Zendesk solves only tickets that have an assignee.
  for (const id of [9101, 9102, 9103]) s.stack.zendesk.addTicket({ id, requester_id: 1, assignee_id: 2, tags: ['lifecycle_request'] });
  s.stack.slack.users.set('U0LDSUP01', { id: 'U0LDSUP01', email: 'sup1@acme.example', name: 'sup1' });
});
afterAll(async () => {
  await s.close();
  await t.destroy();
});

async function deliver(body: unknown) {
  const raw = JSON.stringify(body);
  const res = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers: zendeskHeaders(s.stack.secrets.zendeskWebhook, raw), body: raw });
  expect(res.status).toBe(200);
  return (await res.json()) as { status: string; record_id: string; state: string };
}

const stateOf = async (id: string) => (await t.db('lifecycle_records').where({ id }).first()).state as string;

it('an auto-approved upgrade is billed, the ticket solved and the customer emailed, then confirmed', async () => {
  const r = await deliver(
    triggerBody(9101, {
      kind: 'lc_upgrade',
      subtype: 'lc_subscription',
      account_id: 'acc_acme',
      reason_code: 'growth',
      to_plan: 'enterprise',
      effective: 'lc_now',
    }),
  );
  expect(r).toMatchObject({ status: 'created', state: 'submitted' });
  await until(async () => (await stateOf(r.record_id)) === 'confirmed', 20_000, 'record confirmed');

  const mail = s.stack.smtp.messages.find((m) => m.parsed.messageId === `<${r.record_id}.applied@lifecycle-desk>`)!;
  expect(mail.envelope.to).toEqual(['ops@acme.example']);
  expect(mail.parsed.subject).toMatch(/Ticket #9101/);
  expect(mail.parsed.text).toMatch(/Acme GmbH/);
  expect(mail.parsed.html).toMatch(/Acme GmbH/);
  expect(await t.db('ledger_transactions').where({ record_id: r.record_id }).count('* as n').first()).toEqual({ n: '1' });
  expect(await t.db('accounts').where({ id: 'acc_acme' }).first()).toMatchObject({ plan_id: 'enterprise' });

  await until(() => s.stack.zendesk.tickets.get(9101)!.tags.includes('lifecycle_confirmed'), 10_000, 'ticket tags');
  const ticket = s.stack.zendesk.tickets.get(9101)!;
  expect(ticket.tags).toEqual(expect.arrayContaining(['lifecycle_upgrade', 'lifecycle_confirmed']));
  expect(ticket.tags).not.toContain('lifecycle_submitted');
  expect(ticket.status).toBe('solved');
  expect(s.stack.zendesk.notes(9101).at(-1)).toMatch(new RegExp(`record ${r.record_id}[\\s\\S]*confirmed to the customer`));
  expect((await verifyAudit(t.db, 'acc_acme')).broken).toBeNull();
});

it('a credit that needs approval is posted to Slack, approved with one click, applied and emailed', async () => {
  const r = await deliver(
    triggerBody(9102, {
      kind: 'lc_credit',
      subtype: 'lc_goodwill',
      account_id: 'acc_big',
      reason_code: 'outage',
      amount: '250.00',
      currency: 'EUR',
      period_start: new Date(Date.now() - 9 * DAY).toISOString().slice(0, 10),
      period_end: new Date(Date.now() - 2 * DAY).toISOString().slice(0, 10),
    }),
  );
  await until(async () => (await stateOf(r.record_id)) === 'pending_approval', 10_000, 'pending approval');
  await until(() => s.stack.slack.callsOf('chat.postMessage').some((c) => JSON.stringify(c.args.blocks ?? '').includes(r.record_id)), 10_000, 'Slack post');
  const post = s.stack.slack.callsOf('chat.postMessage').find((c) => JSON.stringify(c.args.blocks ?? '').includes(r.record_id))!;
  expect(post.ok).toBe(true);
  // The agent's link to the ticket, on the Zendesk subdomain (not the API URL, the stand-in here).
  expect(JSON.stringify(post.args.blocks)).toContain('<https://lifecycle-demo.zendesk.com/agent/tickets/9102|');
  expect(JSON.stringify(post.args.blocks)).not.toContain(s.stack.zendesk.origin);
  const actions = (post.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find((b) => b.type === 'actions')!;
  const value = actions.elements!.find((e) => e.action_id === 'approval_approve')!.value;
  await until(async () => (await t.db('approval_requests').where({ record_id: r.record_id }).first()).messages.length > 0, 5000, 'message stored');
  const ts = (await t.db('approval_requests').where({ record_id: r.record_id }).first()).messages[0].ts as string;
  const click = slackInteractionRequest(
    {
      type: 'block_actions',
      user: { id: 'U0LDSUP01', name: 'sup1' },
      team: { id: 'T1' },
      api_app_id: 'A1',
      trigger_id: 'trig-1',
      channel: { id: 'C0LDAPPROVALS', name: 'approvals' },
      message: { ts, type: 'message' },
      container: { type: 'message', message_ts: ts, channel_id: 'C0LDAPPROVALS' },
      actions: [{ type: 'button', action_id: 'approval_approve', block_id: 'approval_actions', value, action_ts: '1' }],
    },
    { signingSecret: s.stack.secrets.slackSigning },
  );
  const res = await fetch(`${s.base}/slack/events`, { method: 'POST', headers: click.headers, body: click.body });
  expect(res.status).toBe(200);
  await until(async () => (await stateOf(r.record_id)) === 'confirmed', 20_000, 'credit confirmed');
  await until(
    () => s.stack.slack.callsOf('chat.update').some((c) => c.args.ts === ts && JSON.stringify(c.args.blocks).includes('Approved by <@U0LDSUP01>')),
    10_000,
    'message updated',
  );
  const mail = s.stack.smtp.messages.find((m) => m.parsed.messageId === `<${r.record_id}.credit_granted@lifecycle-desk>`)!;
  expect(mail.parsed.subject).toMatch(/€250\.00/);
});

it('an end-of-term downgrade is scheduled for the term end and the customer told', async () => {
  const r = await deliver(
    triggerBody(9103, { kind: 'lc_downgrade', subtype: 'lc_subscription', account_id: 'acc_mid', reason_code: 'budget_cut', to_plan: 'growth' }),
  );
  await until(async () => (await stateOf(r.record_id)) === 'scheduled', 20_000, 'scheduled');
  await until(() => s.stack.smtp.messages.some((m) => m.parsed.messageId === `<${r.record_id}.scheduled@lifecycle-desk>`), 10_000, 'scheduled email');
  const job = await t.db('outbox').where({ topic: 'billing.apply' }).whereRaw("payload->>'record_id' = ?", [r.record_id]).orderBy('id', 'desc').first();
  expect(new Date(job.available_at).getTime()).toBe(new Date((await t.db('accounts').where({ id: 'acc_mid' }).first()).term_end).getTime());
  const delayed = await s.service.queues.get('billing.apply').getJob(job.key);
  expect(await delayed!.getState()).toBe('delayed');

  // Until it runs, the agent can withdraw it; the delayed job then finds nothing to do.
  const auth = { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' };
  const stale = await fetch(`${s.base}/api/records/${r.record_id}/cancel`, { method: 'POST', headers: auth, body: JSON.stringify({ version: 1 }) });
  expect(stale.status).toBe(409);
  const cancel = await fetch(`${s.base}/api/records/${r.record_id}/cancel`, {
    method: 'POST',
    headers: auth,
    body: JSON.stringify({ reason: 'customer changed their mind' }),
  });
  expect(cancel.status).toBe(200);
  expect(await stateOf(r.record_id)).toBe('cancelled');
  // The customer, told it was scheduled, is told once that it will not happen.
  const cancelledMail = `<${r.record_id}.cancelled@lifecycle-desk>`;
  await until(() => s.stack.smtp.messages.some((m) => m.parsed.messageId === cancelledMail), 10_000, 'cancelled email');
  const told = s.stack.smtp.messages.filter((m) => m.parsed.messageId === cancelledMail);
  expect(told).toHaveLength(1);
  expect(told[0]!.parsed.text).toContain('The reason: customer changed their mind');
  expect(await applyRecord({ ...buildDeps(t.db), billing: new LedgerBillingProvider(t.db) }, r.record_id)).toBe('not_applicable');
  expect(await t.db('ledger_transactions').where({ record_id: r.record_id }).count('* as n').first()).toEqual({ n: '0' });
});
