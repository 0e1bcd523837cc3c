import fs from 'node:fs';
import path from 'node:path';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { countRows, seedAccounts } from '../helpers/app';
import { TEST_API_TOKEN, startTestService, until } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { slackInteractionRequest } from '../helpers/fake-slack';
import { verifyAudit } from '../../src/db/audit.queries';

/**
 * The whole pipeline with Zendesk behaving as it does when set up as the README says: the trigger
 * fires on every ticket change, the agent's and the service's own (notes, tags, status) alike, and
 * each delivery carries the ticket's fields as they are. Every scenario of the pipeline runs
 * under it; afterwards the system must fall quiet, with one record per request and one email per
 * outcome.
 */

let t: TestDb;
let s: TestService;
const DAY = 86_400_000;
const FIELD_MAP = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'config', 'field-map.example.json'), 'utf8')) as {
  fields: Record<string, number>;
};
const F = FIELD_MAP.fields;
const AGENT = 2;
/** Deliveries whose answer says they changed something. */
const CHANGING = ['created', 'revised', 'submitted', 'in_progress', 'needs_kind'];
const day = (offset: number) => new Date(Date.now() + offset * DAY).toISOString().slice(0, 10);

beforeAll(async () => {
  t = await createTestDb();
  const now = Date.now();
  const term = { term_start: new Date(now - 10 * DAY).toISOString(), term_end: new Date(now + 20 * DAY).toISOString(), contacts: ['ops@acme.example'] };
  await seedAccounts(
    t.db,
    buildAccount({ id: 'acc_acme', name: 'Acme GmbH', mrr_minor: 9900, ...term }),
    buildAccount({ id: 'acc_big', name: 'Big Corp', plan_id: 'enterprise', mrr_minor: 99_900, ...term }),
    buildAccount({ id: 'acc_mid', name: 'Mid Ltd', plan_id: 'business', mrr_minor: 29_900, ...term }),
    buildAccount({ id: 'acc_term', name: 'Leaving Ltd', mrr_minor: 9900, ...term }),
  );
  s = await startTestService(t);
  const z = s.stack.zendesk;
  z.users.set(1, { id: 1, name: 'Olga Ops', email: 'ops@acme.example' });
  z.users.set(AGENT, { id: AGENT, name: 'Agent Smith', email: 'agent@support.example' });
  s.stack.slack.users.set('U0LDSUP01', { id: 'U0LDSUP01', email: 'sup1@acme.example', name: 'sup1' });
  // The README trigger, without its safety condition: the service must be safe without it.
  z.configureTrigger({ url: `${s.base}/webhooks/zendesk`, secret: s.stack.secrets.zendeskWebhook, fieldIds: Object.values(F) });
}, 30_000);
afterAll(async () => {
  await s.close();
  await t.destroy();
});

const fieldValues = (fields: Record<string, string>) => Object.entries(fields).map(([name, value]) => ({ id: F[name]!, value }));

/** An agent files a request on a new ticket in Zendesk ("Ticket is Created" fires the trigger). */
function file(id: number, fields: Record<string, string>, opts: { assigned?: boolean } = {}) {
  s.stack.zendesk.createTicket({
    id,
    requester_id: 1,
    assignee_id: opts.assigned === false ? null : AGENT,
    tags: ['lifecycle_request'],
    custom_fields: fieldValues(fields),
  });
}

const recordsOf = (ticket: number) =>
  t
    .db('lifecycle_records')
    .where({ ticket_id: String(ticket) })
    .orderBy('created_at');
async function onlyRecord(ticket: number, state: string, ms = 20_000): Promise<{ id: string; state: string; version: number }> {
  await until(async () => (await recordsOf(ticket)).some((r: { state: string }) => r.state === state), ms, `ticket ${ticket} record ${state}`);
  const rs = await recordsOf(ticket);
  expect(rs).toHaveLength(1);
  return rs[0];
}

const zendeskPuts = (ticket?: number) =>
  s.stack.zendesk.requests.filter((r) => r.method === 'PUT' && (ticket === undefined || r.path === `/api/v2/tickets/${ticket}.json`)).length;
const changingDeliveries = (ticket?: number) =>
  s.stack.zendesk.triggerDeliveries.filter((d) => (ticket === undefined || d.ticketId === ticket) && CHANGING.includes(String(d.answer?.status)));

/** Waits until nothing is in flight: no trigger delivery, no due job, and no change for a while. */
async function settle(quietMs = 1000, maxMs = 30_000): Promise<void> {
  const end = Date.now() + maxMs;
  let last = '';
  let since = Date.now();
  while (Date.now() < end) {
    await s.stack.zendesk.triggersIdle();
    const due = await t.db('outbox').whereNull('completed_at').where('available_at', '<=', t.db.fn.now()).count<{ n: string }[]>('* as n');
    const snap = JSON.stringify([zendeskPuts(), s.stack.zendesk.triggerDeliveries.length, await countRows(t.db, 'audit_events'), due[0]!.n]);
    if (snap !== last || due[0]!.n !== '0') {
      last = snap;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not quiet within ${maxMs} ms`);
}

async function approvalButton(recordId: string): Promise<{ value: string; ts: string }> {
  await until(async () => ((await t.db('approval_requests').where({ record_id: recordId }).first())?.messages.length ?? 0) > 0, 10_000, 'approval posted');
  const post = s.stack.slack.callsOf('chat.postMessage').find((c) => JSON.stringify(c.args.blocks ?? '').includes(recordId))!;
  const actions = (post.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find((b) => b.type === 'actions')!;
  const ts = (await t.db('approval_requests').where({ record_id: recordId }).first()).messages[0].ts as string;
  return { value: actions.elements!.find((e) => e.action_id === 'approval_approve')!.value, ts };
}

async function slack(payload: Record<string, unknown>) {
  const req = slackInteractionRequest(payload, { signingSecret: s.stack.secrets.slackSigning });
  const res = await fetch(`${s.base}/slack/events`, { method: 'POST', headers: req.headers, body: req.body });
  expect(res.status).toBe(200);
}
const click = (action: 'approval_approve' | 'approval_reject', b: { value: string; ts: string }) =>
  slack({
    type: 'block_actions',
    user: { id: 'U0LDSUP01', name: 'sup1' },
    team: { id: 'T1' },
    api_app_id: 'A1',
    trigger_id: `trig-${Math.random()}`,
    channel: { id: 'C0LDAPPROVALS', name: 'approvals' },
    message: { ts: b.ts, type: 'message' },
    container: { type: 'message', message_ts: b.ts, channel_id: 'C0LDAPPROVALS' },
    actions: [{ type: 'button', action_id: action, block_id: 'approval_actions', value: b.value, action_ts: '1' }],
  });

async function reject(recordId: string, reason: string) {
  const opened = s.stack.slack.callsOf('views.open').length;
  await click('approval_reject', await approvalButton(recordId));
  await until(() => s.stack.slack.callsOf('views.open').length > opened, 10_000, 'reject modal');
  const view = s.stack.slack.callsOf('views.open').at(-1)!.args.view as { private_metadata: string };
  await slack({
    type: 'view_submission',
    team: { id: 'T1' },
    user: { id: 'U0LDSUP01', name: 'sup1' },
    api_app_id: 'A1',
    view: {
      id: 'V1',
      callback_id: 'approval_reject_modal',
      private_metadata: view.private_metadata,
      state: { values: { reason: { reason_input: { type: 'plain_text_input', value: reason } } } },
    },
  });
}

const credit = (account: string, amount: string, more: Record<string, string> = {}) => ({
  kind: 'lc_credit',
  subtype: 'lc_goodwill',
  account_id: account,
  reason_code: 'outage',
  amount,
  currency: 'EUR',
  period_start: day(-9),
  period_end: day(-2),
  ...more,
});

describe('with the README trigger echoing every update back', () => {
  it('an auto-approved upgrade is billed, emailed, confirmed and its ticket solved, once', async () => {
    file(9301, { kind: 'lc_upgrade', subtype: 'lc_subscription', account_id: 'acc_acme', reason_code: 'growth', to_plan: 'lc_business', effective: 'lc_now' });
    const r = await onlyRecord(9301, 'confirmed');
    await settle();
    expect(s.stack.zendesk.tickets.get(9301)!.status).toBe('solved');
    expect(s.stack.zendesk.tickets.get(9301)!.tags).toEqual(expect.arrayContaining(['lifecycle_upgrade', 'lifecycle_confirmed']));
    expect(s.stack.zendesk.notes(9301).at(-1)).toMatch(new RegExp(`record ${r.id}[\\s\\S]*confirmed to the customer`));
    expect(changingDeliveries(9301).map((d) => d.answer!.status)).toEqual(['created']);
  });

  it('a credit approved in Slack is applied and emailed; its unassigned ticket keeps the note and says why it is not solved', async () => {
    file(9302, credit('acc_big', '250.00'), { assigned: false });
    const pending = await onlyRecord(9302, 'pending_approval');
    await click('approval_approve', await approvalButton(pending.id));
    await onlyRecord(9302, 'confirmed');
    await settle();
    const ticket = s.stack.zendesk.tickets.get(9302)!;
    expect(ticket.status).toBe('open');
    expect(ticket.tags).toEqual(expect.arrayContaining(['lifecycle_service_credit', 'lifecycle_confirmed']));
    expect(s.stack.zendesk.notes(9302).at(-1)).toMatch(/confirmed to the customer[\s\S]*refused to set this ticket to solved/);
    expect(changingDeliveries(9302).map((d) => d.answer!.status)).toEqual(['created']);
  });

  it('a rejected credit stays rejected: the echo of the rejection note files nothing, Slack is not asked again', async () => {
    file(9303, credit('acc_big', '150.00'));
    const pending = await onlyRecord(9303, 'pending_approval');
    await settle();
    // The agent changes the amount while the supervisor decides: not applied, and said so once.
    s.stack.zendesk.agentUpdate(9303, { fields: { [F.amount!]: '120.00' } });
    await until(() => s.stack.zendesk.notes(9303).some((n) => n.includes('still in progress')), 10_000, 'in-progress note');
    await settle();
    await reject(pending.id, 'already credited on ticket 9302');
    await onlyRecord(9303, 'rejected');
    await settle();
    expect(s.stack.zendesk.tickets.get(9303)!.tags).toEqual(expect.arrayContaining(['lifecycle_rejected']));
    expect(s.stack.zendesk.tickets.get(9303)!.tags).not.toContain('lifecycle_pending_approval');
    expect(
      s.stack.slack
        .callsOf('chat.postMessage')
        .filter((c) => JSON.stringify(c.args.blocks ?? '').includes('Approval needed') && JSON.stringify(c.args.blocks ?? '').includes('9303')),
    ).toHaveLength(1);
    expect(changingDeliveries(9303).map((d) => d.answer!.status)).toEqual(['created', 'in_progress']);
    expect(s.stack.zendesk.notes(9303).filter((n) => n.includes('still in progress'))).toHaveLength(1);
    expect(await t.db('lifecycle_records').where({ ticket_id: '9303' }).first()).toMatchObject({ amount_minor: '-15000', currency: 'EUR' });
  });

  it('an end-of-term downgrade is scheduled and emailed; cancelled, it stays cancelled', async () => {
    file(9304, { kind: 'lc_downgrade', subtype: 'lc_subscription', account_id: 'acc_mid', reason_code: 'budget_cut', to_plan: 'lc_growth' });
    const r = await onlyRecord(9304, 'scheduled');
    await until(() => s.stack.smtp.messages.some((m) => m.parsed.messageId === `<${r.id}.scheduled@lifecycle-desk>`), 10_000, 'scheduled email');
    await settle();
    const res = await fetch(`${s.base}/api/records/${r.id}/cancel`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'customer changed their mind' }),
    });
    expect(res.status).toBe(200);
    await settle();
    expect((await onlyRecord(9304, 'cancelled')).id).toBe(r.id);
    expect(s.stack.zendesk.tickets.get(9304)!.tags).toEqual(expect.arrayContaining(['lifecycle_cancelled']));
    expect(changingDeliveries(9304).map((d) => d.answer!.status)).toEqual(['created']);
  });

  it('a termination approved in Slack is scheduled and the customer told, once', async () => {
    file(9305, { kind: 'lc_termination', subtype: 'lc_customer_initiated', account_id: 'acc_term', reason_code: 'switched_to_competitor' });
    const pending = await onlyRecord(9305, 'pending_approval');
    await click('approval_approve', await approvalButton(pending.id));
    const r = await onlyRecord(9305, 'scheduled');
    await until(() => s.stack.smtp.messages.some((m) => m.parsed.messageId === `<${r.id}.scheduled@lifecycle-desk>`), 10_000, 'scheduled email');
    await settle();
    expect(changingDeliveries(9305).map((d) => d.answer!.status)).toEqual(['created']);
  });

  it('a draft credit over its cap, effective now, does not loop; fixed by the agent, it is filed and applied', async () => {
    file(9306, credit('acc_acme', '500.00', { effective: 'lc_now' }));
    const draft = await onlyRecord(9306, 'draft');
    await settle();
    const puts = zendeskPuts(9306);
    const events = await countRows(t.db, 'audit_events', { record_id: draft.id });
    // Echoes keep arriving for other tickets; this one must stay still.
    await new Promise((r) => setTimeout(r, 2500));
    await settle();
    expect(zendeskPuts(9306)).toBe(puts);
    expect(await countRows(t.db, 'audit_events', { record_id: draft.id })).toBe(events);
    expect(await countRows(t.db, 'audit_events', { record_id: draft.id, type: 'record.revise' })).toBe(0);
    expect((await onlyRecord(9306, 'draft')).version).toBe(1);
    expect(s.stack.zendesk.notes(9306).at(-1)).toMatch(/exceeds the period's charges/);

    s.stack.zendesk.agentUpdate(9306, { fields: { [F.amount!]: '10.00' } });
    const fixed = await onlyRecord(9306, 'confirmed');
    expect(fixed.id).toBe(draft.id);
    await settle();
    expect(changingDeliveries(9306).map((d) => d.answer!.status)).toEqual(['created', 'submitted']);
  });

  it('then everything falls quiet: replies and reassignments change nothing; one record per request, one email per outcome', async () => {
    await settle();
    const before = {
      puts: zendeskPuts(),
      events: await countRows(t.db, 'audit_events'),
      changing: changingDeliveries().length,
      deliveries: s.stack.zendesk.triggerDeliveries.length,
    };
    // Agents reply to the customers (public comments) and reassign a ticket; each fires the trigger.
    for (const id of [9301, 9302, 9303, 9304, 9305, 9306]) s.stack.zendesk.agentUpdate(id, { comment: { body: 'Thanks, all done.', public: true } });
    s.stack.zendesk.agentUpdate(9302, { assignee_id: AGENT });
    await new Promise((r) => setTimeout(r, 3000));
    await settle();
    expect(s.stack.zendesk.triggerDeliveries.length).toBeGreaterThanOrEqual(before.deliveries + 7);
    expect(s.stack.zendesk.triggerDeliveries.every((d) => d.status === 200)).toBe(true);
    expect(changingDeliveries().length).toBe(before.changing);
    expect(zendeskPuts()).toBe(before.puts);
    expect(await countRows(t.db, 'audit_events')).toBe(before.events);

    const records = await t.db('lifecycle_records').select('id', 'ticket_id', 'state').orderBy('ticket_id');
    expect(records.map((r: { ticket_id: string; state: string }) => [r.ticket_id, r.state])).toEqual([
      ['9301', 'confirmed'],
      ['9302', 'confirmed'],
      ['9303', 'rejected'],
      ['9304', 'cancelled'],
      ['9305', 'scheduled'],
      ['9306', 'confirmed'],
    ]);
    const id = (ticket: string) => records.find((r: { ticket_id: string }) => r.ticket_id === ticket)!.id as string;
    const sent = s.stack.smtp.messages.map((m) => m.parsed.messageId).sort();
    expect(sent).toEqual(
      [
        `<${id('9301')}.applied@lifecycle-desk>`,
        `<${id('9302')}.credit_granted@lifecycle-desk>`,
        `<${id('9303')}.rejected@lifecycle-desk>`,
        `<${id('9304')}.scheduled@lifecycle-desk>`,
        `<${id('9304')}.cancelled@lifecycle-desk>`,
        `<${id('9305')}.scheduled@lifecycle-desk>`,
        `<${id('9306')}.credit_granted@lifecycle-desk>`,
      ].sort(),
    );
    expect((await verifyAudit(t.db)).broken).toBeNull();
  });
});

describe('with the README trigger condition "Current user is not" the API user', () => {
  it("the service's own updates fire nothing; the agent's change is delivered once and handled", async () => {
    s.stack.zendesk.configureTrigger({
      url: `${s.base}/webhooks/zendesk`,
      secret: s.stack.secrets.zendeskWebhook,
      fieldIds: Object.values(F),
      notApiUser: true,
    });
    const before = s.stack.zendesk.triggerDeliveries.length;
    file(9307, { kind: 'lc_upgrade', subtype: 'lc_subscription', account_id: 'acc_mid', reason_code: 'growth', to_plan: 'lc_enterprise', effective: 'lc_now' });
    await onlyRecord(9307, 'confirmed');
    await settle();
    expect(zendeskPuts(9307)).toBeGreaterThan(0);
    const deliveries = s.stack.zendesk.triggerDeliveries.slice(before);
    expect(deliveries.map((d) => [d.ticketId, d.by, d.answer?.status])).toEqual([[9307, 'agent', 'created']]);
  });
});
