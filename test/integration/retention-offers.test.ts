import fs from 'node:fs';
import path from 'node:path';
import { WebClient } from '@slack/web-api';
import { createRecord } from '../../src/app/create-record';
import { evaluatePolicy } from '../../src/app/evaluate-policy';
import { fileDiscountCredit, runWinBack } from '../../src/app/retention-offers';
import type { RetentionDeps, WinBackChannel } from '../../src/app/retention-offers';
import { transitionRecord } from '../../src/app/transition-record';
import { zafRetentionAnswer } from '../../src/app/zaf-actions';
import { ticketNote } from '../../src/app/ticket-view';
import { QuoteSigner } from '../../src/app/preview-record';
import { ZendeskClient } from '../../src/integrations/zendesk/zendesk.client';
import { SlackNotifier } from '../../src/integrations/slack/slack.notifier';
import { parsePolicy } from '../../src/records/policy';
import { parseReasons } from '../../src/records/reasons';
import type { Policy } from '../../src/records/policy';
import { ZendeskStandin } from '../../devtools/zendesk.standin';
import { FakeSlack } from '../helpers/fake-slack';
import { createTestDb, forceRecord } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest, NOW } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts, TestClock } from '../helpers/app';
import { auth, buildTestHttp } from '../helpers/http';
import type { TestHttp } from '../helpers/http';

/**
 * Retention offers: the example policy holds terminations for price, budget and unused features
 * until the agent records the customer's answer. Accepted offers withdraw the termination and
 * become records of their own; declined ones continue, with a win-back follow-up after the
 * termination date (driven here by a test clock, as the delayed job would run it).
 */

const POLICY_FILE = path.resolve(__dirname, '..', '..', 'config', 'policy.example.json');
const example = JSON.parse(fs.readFileSync(POLICY_FILE, 'utf8')) as Record<string, unknown>;
const policy: Policy = parsePolicy(example, POLICY_FILE);
const REASONS_FILE = path.resolve(__dirname, '..', '..', 'config', 'reasons.example.json');
/** The shipped taxonomy: agents cannot pick `retention_offer`, yet the records offers become carry it. */
const reasons = parseReasons(JSON.parse(fs.readFileSync(REASONS_FILE, 'utf8')), REASONS_FILE);
const DAY = 86_400_000;

let t: TestDb;
let http: TestHttp;
let zendesk: ZendeskStandin;
let slack: FakeSlack;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount(), buildAccount({ id: 'acc_other', contacts: ['it@other.example'] }));
  http = await buildTestHttp(t.db, { extra: { policy, app: { ...buildDeps(t.db), reasons } } });
  zendesk = await ZendeskStandin.start({ email: 'bot@support.example', token: 'zd-token' });
  slack = await FakeSlack.start({ token: 'xoxb-retention' });
});
afterAll(async () => {
  await http.close();
  await zendesk.close();
  await slack.close();
  await t.destroy();
});

const deps = (clock = new TestClock()): RetentionDeps & { clock: TestClock } => ({ ...buildDeps(t.db, clock), reasons, policy });
const policyDeps = () => ({ ...buildDeps(t.db), policy });

async function filedTermination(reason: string, account = 'acc_acme'): Promise<string> {
  const { record } = await createRecord(buildDeps(t.db), {
    request: buildRequest('termination', { reason_code: reason, account_id: account }),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  return record.id;
}
const get = (id: string) => t.db('lifecycle_records').where({ id }).first();
const answer = (id: string, body: Record<string, unknown>) =>
  http.app.inject({ method: 'POST', url: `/api/records/${id}/retention-offer`, headers: auth, payload: body });
const outbox = (topic: string, id: string) => t.db('outbox').where({ topic }).andWhereRaw(`payload->>'record_id' = ?`, [id]).orderBy('id');

describe('the offer step', () => {
  it('holds a termination whose reason calls for an offer, records the offer once, and does not decide it', async () => {
    const id = await filedTermination('price');
    expect(await evaluatePolicy(policyDeps(), id)).toEqual({ status: 'retention_offer_pending' });
    expect(await evaluatePolicy(policyDeps(), id)).toEqual({ status: 'retention_offer_pending' });
    const r = await get(id);
    expect(r.state).toBe('submitted');
    expect(r.details.retention_offer).toEqual({ offer: '20% off for 3 months', outcome: 'pending' });
    const offered = await t.db('audit_events').where({ record_id: id, type: 'record.offer_retention' });
    expect(offered).toHaveLength(1);
    expect(offered[0].data).toMatchObject({ rule: 'price: discount', offer_terms: { type: 'discount', percent: 20, months: 3 } });
    expect(await countRows(t.db, 'approval_requests', { record_id: id })).toBe(0);
    // The ticket's note tells the agent what to offer and how to record the answer.
    const { record } = (await http.app.inject({ method: 'GET', url: `/api/records/${id}`, headers: auth })).json();
    const note = ticketNote(record);
    expect(note).toContain('Retention offer to put to the customer first: 20% off for 3 months.');
    expect(note).toContain(`POST /api/records/${id}/retention-offer`);
  });

  it('lets other reasons through as before', async () => {
    const id = await filedTermination('switched_to_competitor');
    expect((await evaluatePolicy(policyDeps(), id)).status).toBe('approval_requested');
  });

  it('refuses an answer for a record that is not waiting for one (409) and a malformed answer (422)', async () => {
    const id = await filedTermination('switched_to_competitor');
    expect((await answer(id, { outcome: 'accepted' })).statusCode).toBe(409);
    const held = await filedTermination('price');
    await evaluatePolicy(policyDeps(), held);
    const bad = await answer(held, { outcome: 'maybe' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().error.problems[0].field).toBe('outcome');
    expect((await get(held)).details.retention_offer.outcome).toBe('pending');
  });
});

describe('declined', () => {
  it('the termination continues through the policy, and the win-back follow-up is queued for 30 days after its date', async () => {
    const id = await filedTermination('budget_cut');
    await evaluatePolicy(policyDeps(), id);
    const res = await answer(id, { outcome: 'declined', note: 'wants to leave anyway' });
    expect(res.statusCode).toBe(200);
    const r = await get(id);
    expect(r.state).toBe('submitted');
    expect(r.details.retention_offer).toEqual({ offer: 'a pause of 3 months', outcome: 'declined' });
    const [win] = await outbox('retention.winback_ticket', id);
    expect(new Date(win.available_at).getTime()).toBe(new Date(r.effective_at).getTime() + 30 * DAY);
    expect((await outbox('record.advance', id)).length).toBeGreaterThanOrEqual(2);
    expect((await evaluatePolicy(policyDeps(), id)).status).toBe('approval_requested');
    expect((await answer(id, { outcome: 'accepted' })).statusCode).toBe(409);
  });
});

describe('accepted', () => {
  it('a smaller plan: the termination is withdrawn (one cancelled email queued) and the downgrade is filed, linked both ways', async () => {
    const id = await filedTermination('unused_features');
    await evaluatePolicy(policyDeps(), id);
    const res = await answer(id, { outcome: 'accepted' });
    expect(res.statusCode).toBe(200);
    const { record, linked_record } = res.json();
    expect(record.state).toBe('cancelled');
    expect(record.details.retention_offer).toEqual({ offer: 'a move to the Starter plan', outcome: 'accepted' });
    expect(linked_record).toMatchObject({
      kind: 'downgrade',
      subtype: 'subscription',
      state: 'submitted',
      reason_code: 'retention_offer',
      account_id: 'acc_acme',
    });
    expect(linked_record.details.to_plan).toBe('starter');
    const cancel = await t.db('audit_events').where({ record_id: id, type: 'record.cancel' }).first();
    expect(cancel.actor).toEqual({ role: 'supervisor', id: 'api-token:bootstrap' });
    expect(cancel.data).toMatchObject({ linked_record_id: linked_record.id, offer_terms: { type: 'downgrade', to_plan: 'starter' } });
    // The reason is free text: kept outside the chain, read back through the API.
    const { events } = (await http.app.inject({ method: 'GET', url: `/api/records/${id}`, headers: auth })).json();
    expect(events.find((e: { type: string }) => e.type === 'record.cancel').data.reason).toBe('Retention offer accepted: a move to the Starter plan');
    expect((await t.db('audit_events').where({ record_id: linked_record.id, type: 'retention.linked' }).first()).data.from_record_id).toBe(id);
    expect((await outbox('email.send', id)).map((m) => m.key)).toEqual([`email.${id}.cancelled`]);
    // The downgrade goes through the policy like any other.
    expect((await outbox('record.advance', linked_record.id)).length).toBe(1);
  });

  it('a pause: a suspension reviewed three months on', async () => {
    const id = await filedTermination('budget_cut', 'acc_other');
    await evaluatePolicy(policyDeps(), id);
    const { linked_record } = (await answer(id, { outcome: 'accepted' })).json();
    expect(linked_record).toMatchObject({ kind: 'status_change', subtype: 'suspension', account_id: 'acc_other' });
    expect(linked_record.details.suspension.review_date).toBe('2026-06-16');
  });

  it('an offer that cannot become a record is refused (422) and changes nothing', async () => {
    await seedAccounts(t.db, buildAccount({ id: 'acc_small', plan_id: 'starter', contacts: [] }));
    const id = await filedTermination('unused_features', 'acc_small');
    await evaluatePolicy(policyDeps(), id);
    const res = await answer(id, { outcome: 'accepted' });
    expect(res.statusCode).toBe(422);
    expect(res.json().error.problems.some((p: { field: string }) => p.field === 'details.to_plan')).toBe(true);
    expect((await get(id)).state).toBe('submitted');
    expect(await t.db('lifecycle_records').where({ account_id: 'acc_small', kind: 'downgrade' })).toHaveLength(0);
  });

  it('a discount: one goodwill credit per month, each filed once its month has ended, never early and never twice', async () => {
    const id = await filedTermination('price');
    await evaluatePolicy(policyDeps(), id);
    const res = (await answer(id, { outcome: 'accepted' })).json();
    expect(res.linked_record).toBeNull();
    expect(res.discount_periods).toBe(3);
    const jobs = await outbox('retention.credit', id);
    expect(jobs.map((j) => new Date(j.available_at).toISOString())).toEqual([
      '2026-04-01T00:00:00.000Z',
      '2026-05-01T00:00:00.000Z',
      '2026-06-01T00:00:00.000Z',
    ]);

    const clock = new TestClock(new Date('2026-03-31T23:59:59Z'));
    await expect(fileDiscountCredit(deps(clock), id, 1)).rejects.toThrow(/due at 2026-04-01T00:00:00.000Z, not yet/);
    clock.set(new Date('2026-04-01T00:00:05Z'));
    expect(await fileDiscountCredit(deps(clock), id, 1)).toBe('filed');
    expect(await fileDiscountCredit(deps(clock), id, 1)).toBe('already_filed');
    const credits = await t.db('lifecycle_records').where({ account_id: 'acc_acme', kind: 'service_credit', reason_code: 'retention_offer' });
    expect(credits).toHaveLength(1);
    // 20% of growth's monthly EUR price, for March.
    expect(credits[0].details).toMatchObject({
      period_start: '2026-03-01T00:00:00.000Z',
      period_end: '2026-04-01T00:00:00.000Z',
      requested_credit: { amount_minor: 1980, currency: 'EUR' },
    });
    expect(credits[0].state).toBe('submitted');
    await expect(fileDiscountCredit(deps(clock), id, 2)).rejects.toThrow(/not yet/);
  });
});

describe('the win-back follow-up', () => {
  const zendeskChannel = (): WinBackChannel => {
    const client = new ZendeskClient({ baseUrl: zendesk.apiUrl, email: 'bot@support.example', apiToken: 'zd-token' });
    return {
      via: 'zendesk',
      createFollowUp: (f) => client.createFollowUpTicket({ key: f.key, subject: f.subject, body: f.body, tags: ['lifecycle_winback'] }),
    };
  };

  async function declinedTermination(): Promise<{ id: string; due: Date }> {
    const id = await filedTermination('budget_cut');
    await evaluatePolicy(policyDeps(), id);
    await answer(id, { outcome: 'declined' });
    const r = await get(id);
    return { id, due: new Date(new Date(r.effective_at).getTime() + 30 * DAY) };
  }

  it('as a Zendesk ticket, once, when due and only for a termination that happened', async () => {
    const { id, due } = await declinedTermination();
    const clock = new TestClock(new Date(due.getTime() - 1000));
    await forceRecord(t, id, { state: 'confirmed' });
    await expect(runWinBack({ ...deps(clock), winBack: zendeskChannel() }, id)).rejects.toThrow(/not yet/);
    expect([...zendesk.tickets.values()].filter((x) => x.external_id === `lifecycle-winback-${id}`)).toHaveLength(0);
    clock.set(due);
    expect(await runWinBack({ ...deps(clock), winBack: zendeskChannel() }, id)).toBe('created');
    expect(await runWinBack({ ...deps(clock), winBack: zendeskChannel() }, id)).toBe('already_created');
    const tickets = [...zendesk.tickets.values()].filter((x) => x.external_id === `lifecycle-winback-${id}`);
    expect(tickets).toHaveLength(1);
    expect(tickets[0]!.tags).toEqual(['lifecycle_winback']);
    expect(tickets[0]!.subject).toMatch(/^Win-back: Acme GmbH \(acc_acme\) left on /);
    expect(tickets[0]!.comments[0]).toMatchObject({ public: false });
    expect(tickets[0]!.comments[0]!.body).toContain('a pause of 3 months, was declined');
    const audited = await t.db('audit_events').where({ record_id: id, type: 'retention.win_back' });
    expect(audited).toHaveLength(1);
    expect(audited[0].data).toEqual({ via: 'zendesk', ref: String(tickets[0]!.id) });
  });

  it('a job retried after Zendesk created the ticket (the answer lost) finds it by its external_id instead of creating another', async () => {
    const { id, due } = await declinedTermination();
    await forceRecord(t, id, { state: 'applied' });
    const channel = zendeskChannel();
    await channel.createFollowUp({ key: `lifecycle-winback-${id}`, subject: 'earlier attempt', body: 'created before the crash', accountId: 'acc_acme' });
    expect(await runWinBack({ ...deps(new TestClock(due)), winBack: channel }, id)).toBe('already_created');
    expect([...zendesk.tickets.values()].filter((x) => x.external_id === `lifecycle-winback-${id}`)).toHaveLength(1);
  });

  it('as a Slack reminder in the approval channel', async () => {
    const { id, due } = await declinedTermination();
    await forceRecord(t, id, { state: 'confirmed' });
    const notifier = new SlackNotifier(new WebClient('xoxb-retention', { slackApiUrl: slack.url }), t.db, 'C0LDAPPROVALS', () => null);
    const channel: WinBackChannel = { via: 'slack', createFollowUp: async (f) => ({ ...(await notifier.remind(`${f.subject}. ${f.body}`)), created: true }) };
    expect(await runWinBack({ ...deps(new TestClock(due)), winBack: channel }, id)).toBe('created');
    const posts = slack.callsOf('chat.postMessage').filter((c) => String(c.args.text).includes('Win-back: Acme GmbH'));
    expect(posts).toHaveLength(1);
    expect(posts[0]!.args.channel).toBe('C0LDAPPROVALS');
  });

  it('nothing for a termination that was rejected in the end', async () => {
    const { id, due } = await declinedTermination();
    await evaluatePolicy(policyDeps(), id);
    await transitionRecord(buildDeps(t.db), { recordId: id, event: 'reject', actor: { role: 'supervisor', id: 'U0LDSUP01' }, reason: 'contract runs a year' });
    expect(await runWinBack({ ...deps(new TestClock(due)), winBack: zendeskChannel() }, id)).toBe('not_terminated');
  });
});

describe('from the Zendesk sidebar', () => {
  const zaf = () => ({ ...buildDeps(t.db), reasons, policy, quotes: new QuoteSigner('zaf-secret-0123456789abcdef0123456789', 'zaf') });
  const caller = (role: 'agent' | 'finance') => ({ zendeskUserId: '77', email: `${role}@support.example`, name: null, role });

  it('an agent records the answer as themselves; finance is refused (403) and the refusal is audited', async () => {
    const id = await filedTermination('unused_features');
    await evaluatePolicy(policyDeps(), id);
    const { version } = await get(id);
    await expect(zafRetentionAnswer(zaf(), caller('finance'), { recordId: id, outcome: 'accepted', version })).rejects.toMatchObject({ code: 'forbidden' });
    expect(await t.db('audit_events').where({ record_id: id, type: 'access.denied' })).toHaveLength(1);
    const out = await zafRetentionAnswer(zaf(), caller('agent'), { recordId: id, outcome: 'accepted', version });
    expect(out.record.state).toBe('cancelled');
    expect(out.linked!.requested_by).toBe('agent@support.example');
    expect((await t.db('audit_events').where({ record_id: id, type: 'record.cancel' }).first()).actor).toEqual({ role: 'agent', id: 'agent@support.example' });
  });

  it('a stale version is a conflict and changes nothing', async () => {
    const id = await filedTermination('budget_cut');
    await evaluatePolicy(policyDeps(), id);
    const { version } = await get(id);
    await expect(zafRetentionAnswer(zaf(), caller('agent'), { recordId: id, outcome: 'declined', version: version - 1 })).rejects.toMatchObject({
      code: 'conflict',
    });
    expect((await get(id)).details.retention_offer.outcome).toBe('pending');
  });
});

it('uses a fixed clock for the dates above', () => expect(NOW.toISOString()).toBe('2026-03-16T12:00:00.000Z'));
