import type { AddressInfo } from 'node:net';
import { WebClient } from '@slack/web-api';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { KnexTransactionRunner } from '../../src/db/store';
import { createSlackApp, SLACK_EVENTS_PATH } from '../../src/integrations/slack/slack.app';
import type { SlackApp } from '../../src/integrations/slack/slack.app';
import { SlackDirectory } from '../../src/integrations/slack/slack.directory';
import { SlackNotifier } from '../../src/integrations/slack/slack.notifier';
import { SlackRoles } from '../../src/integrations/slack/slack.roles';
import { slackSignatureHeaders } from '../../src/integrations/slack/signature';
import { buildHttpApp } from '../../src/http/server';
import type { FastifyInstance } from 'fastify';
import { createLogger } from '../../src/observability/logger';
import { Metrics } from '../../src/observability/metrics';
import { Redis } from 'ioredis';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { FakeSlack, slackEventRequest } from '../helpers/fake-slack';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';
import { KnexRecordQuerySource } from '../../src/db/record.queries';

const TOKEN = 'xoxb-test-token';
const SECRET = 'slack-signing-secret-for-tests';
const CHANNEL = 'C0APPROVALS';
const ROLE_MAP = { user_groups: { S0LDSUPERVISORS: 'supervisor', S0LDAGENTS: 'agent' } } as const;

let t: TestDb;
let slack: FakeSlack;
let slackApp: SlackApp;
let http: FastifyInstance;
let redis: Redis;
let base: string;
let notifier: SlackNotifier;
const deps = () => buildDeps(t.db);

beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount({ name: 'Acme <!channel> GmbH' }));
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
  slack.usergroups.set('S0LDSUPERVISORS', ['USUP1', 'USUP2']);
  slack.usergroups.set('S0LDAGENTS', ['UAGENT', 'USUP1']);
  notifier = new SlackNotifier(client, t.db, CHANNEL, (id) => `https://acme.zendesk.com/agent/tickets/${id}`);
  slackApp = createSlackApp({
    botToken: TOKEN,
    signingSecret: SECRET,
    apiUrl: slack.url,
    queries: new KnexRecordQuerySource(t.db),
    app: deps(),
    directory: new SlackDirectory(client),
    // Never cached (ttl 0), so a failed membership lookup can be staged per test.
    roles: new SlackRoles(ROLE_MAP, new SlackDirectory(client, 0)),
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
});

afterAll(async () => {
  await http.close();
  redis.disconnect();
  await slack.close();
  await t.destroy();
});

async function pendingRecord(required: 1 | 2 = 1, agent = { id: 'UAGENT', email: 'agent@corp.example' }) {
  const d = deps();
  const { record } = await createRecord(d, {
    request: buildRequest('service_credit', { requested_by: agent.email, ticket_id: '777' }),
    actor: { role: 'agent', id: agent.email },
    onProblems: 'reject',
  });
  const { record: p } = await transitionRecord(d, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } });
  await new KnexTransactionRunner(t.db).transaction((uow) =>
    uow.approvals.create({
      record_id: p.id,
      rule: 'credits',
      approvals_required: required,
      approvers: { user_ids: ['USUP1', 'USUP2', agent.id], user_groups: [] },
      escalation: { user_ids: [], user_groups: [] },
      risk: [{ flag: 'unknown_requester', message: 'the requester is not a known contact of the account' }],
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

/** Posts a form-encoded request to /slack/events, signed as Slack signs it. */
async function postSlack(form: Record<string, string>, opts: { secret?: string; timestamp?: number } = {}) {
  const body = new URLSearchParams(form).toString();
  const ts = opts.timestamp ?? Math.floor(Date.now() / 1000);
  const res = await fetch(base + SLACK_EVENTS_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignatureHeaders(opts.secret ?? SECRET, ts, body) },
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

const until = async (cond: () => Promise<boolean> | boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
};

const approveButton = (posted: { args: Record<string, unknown> }) => {
  const blocks = posted.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[];
  return blocks.find((b) => b.type === 'actions')!.elements!.find((e) => e.action_id === 'approval_approve')!.value;
};

it('posts a Block Kit approval request with the facts, risk flags and both buttons', async () => {
  const { record, posted } = await pendingRecord();
  expect(posted.ok).toBe(true);
  expect(posted.args.channel).toBe(CHANNEL);
  const text = JSON.stringify(posted.args.blocks);
  expect(text).toContain('Acme &lt;!channel&gt; GmbH');
  expect(text).toContain('€1.00');
  expect(text).toContain('unknown_requester');
  expect(text).toContain('https://acme.zendesk.com/agent/tickets/777');
  expect(JSON.parse(approveButton(posted))).toEqual({ record_id: record.id, version: record.version });
});

it('refuses requests with a bad or stale signature', async () => {
  const { posted } = await pendingRecord();
  const click = buttonClick('USUP1', 'approval_approve', approveButton(posted), String(posted.args.ts ?? '1'));
  expect((await postSlack(click, { secret: 'wrong-secret' })).status).toBe(401);
  expect((await postSlack(click, { timestamp: Math.floor(Date.now() / 1000) - 400 })).status).toBe(401);
});

it('an approval click is acknowledged at once, decided, and the message updated without buttons', async () => {
  const { record, posted } = await pendingRecord();
  const ts =
    (slack.callsOf('chat.postMessage').at(-1)!.args.ts as string | undefined) ??
    (await t.db('approval_requests').where({ record_id: record.id }).first()).messages[0].ts;
  const res = await postSlack(buttonClick('USUP1', 'approval_approve', approveButton(posted), ts));
  expect(res.status).toBe(200);
  await until(async () => (await t.db('lifecycle_records').where({ id: record.id }).first()).state === 'approved');
  expect(await countRows(t.db, 'outbox', { key: `approval-update.${record.id}.v${record.version + 1}` })).toBe(1);
  await notifier.updateApprovalMessages(record.id);
  const update = slack.callsOf('chat.update').at(-1)!;
  expect(update.ok).toBe(true);
  const blocks = JSON.stringify(update.args.blocks);
  expect(blocks).toContain('Approved by <@USUP1>');
  expect(blocks).not.toContain('approval_approve');
});

it('tells the requesting agent, by ephemeral message, that they cannot approve their own request', async () => {
  const { record, posted } = await pendingRecord();
  await postSlack(buttonClick('UAGENT', 'approval_approve', approveButton(posted), '1.1'));
  await until(() => slack.callsOf('chat.postEphemeral').some((c) => c.args.user === 'UAGENT'));
  const eph = slack
    .callsOf('chat.postEphemeral')
    .filter((c) => c.args.user === 'UAGENT')
    .at(-1)!;
  expect(eph.args.text).toMatch(/requested this change/);
  expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');
  expect(await countRows(t.db, 'audit_events', { record_id: record.id, type: 'approval.refused' })).toBe(1);
});

it('Reject opens a modal; submitting it with a reason rejects the record', async () => {
  const { record, posted } = await pendingRecord();
  const rejectValue = approveButton(posted);
  await postSlack(buttonClick('USUP2', 'approval_reject', rejectValue, '1.2'));
  await until(() => slack.callsOf('views.open').length > 0);
  const open = slack.callsOf('views.open').at(-1)!;
  expect(open.ok).toBe(true);
  const view = open.args.view as { callback_id: string; private_metadata: string };
  expect(view.callback_id).toBe('approval_reject_modal');
  const empty = await postSlack({
    payload: JSON.stringify({
      type: 'view_submission',
      team: { id: 'T0FAKE001' },
      user: { id: 'USUP2', name: 'usup2' },
      api_app_id: 'A0LIFECYCLE',
      view: {
        id: 'V1',
        callback_id: 'approval_reject_modal',
        private_metadata: view.private_metadata,
        state: { values: { reason: { reason_input: { type: 'plain_text_input', value: '  ' } } } },
      },
    }),
  });
  expect(JSON.parse(empty.text)).toMatchObject({ response_action: 'errors', errors: { reason: expect.stringMatching(/reason is required/) } });
  await postSlack({
    payload: JSON.stringify({
      type: 'view_submission',
      team: { id: 'T0FAKE001' },
      user: { id: 'USUP2', name: 'usup2' },
      api_app_id: 'A0LIFECYCLE',
      view: {
        id: 'V1',
        callback_id: 'approval_reject_modal',
        private_metadata: view.private_metadata,
        state: { values: { reason: { reason_input: { type: 'plain_text_input', value: 'duplicate of ticket 12' } } } },
      },
    }),
  });
  await until(async () => (await t.db('lifecycle_records').where({ id: record.id }).first()).state === 'rejected');
  const reason = (await t.db('audit_events').where({ record_id: record.id, type: 'record.reject' }).first()).data.reason;
  expect((await t.db('personal_data').where({ id: reason.$pd }).first()).value).toBe('duplicate of ticket 12');
});

it('App Home lists the viewer’s pending approvals; /lifecycle shows an account’s records', async () => {
  await pendingRecord();
  const event = slackEventRequest(
    {
      type: 'event_callback',
      team_id: 'T0FAKE001',
      api_app_id: 'A0LIFECYCLE',
      event: { type: 'app_home_opened', user: 'USUP1', channel: 'D1', tab: 'home', event_ts: '1.0' },
      event_id: 'Ev1',
      event_time: 1,
    },
    { signingSecret: SECRET },
  );
  const res = await fetch(base + SLACK_EVENTS_PATH, { method: 'POST', headers: event.headers, body: event.body });
  expect(res.status).toBe(200);
  await until(() => slack.callsOf('views.publish').length > 0);
  const publish = slack.callsOf('views.publish').at(-1)!;
  expect(publish.ok).toBe(true);
  expect(publish.args.user_id).toBe('USUP1');
  expect(JSON.stringify(publish.args.view)).toContain('Waiting for your approval');

  await postSlack({
    command: '/lifecycle',
    text: 'acc_acme',
    user_id: 'USUP1',
    channel_id: CHANNEL,
    team_id: 'T0FAKE001',
    response_url: slack.responseUrl(),
    trigger_id: 't1',
  });
  await until(() => slack.callsOf('chat.postEphemeral').some((c) => JSON.stringify(c.args.blocks ?? '').includes('acc_acme')));
});

it('/lifecycle and App Home show nothing to a user without a role, or whose groups Slack cannot list; agents see no approvals', async () => {
  const lastEphemeral = async (user: string, before: number) => {
    await until(() => slack.callsOf('chat.postEphemeral').filter((c) => c.args.user === user).length > before);
    return slack
      .callsOf('chat.postEphemeral')
      .filter((c) => c.args.user === user)
      .at(-1)!.args;
  };
  const count = (user: string) => slack.callsOf('chat.postEphemeral').filter((c) => c.args.user === user).length;

  let before = count('UOUT');
  await postSlack({
    command: '/lifecycle',
    text: 'acc_acme',
    user_id: 'UOUT',
    channel_id: CHANNEL,
    team_id: 'T0FAKE001',
    response_url: slack.responseUrl(),
    trigger_id: 't2',
  });
  const refused = await lastEphemeral('UOUT', before);
  expect(refused.text).toMatch(/no Lifecycle Desk role/);
  expect(JSON.stringify(refused)).not.toContain('acc_acme');
  await until(async () => (await countRows(t.db, 'audit_events', { type: 'access.denied' })) > 0);
  const denied = await t.db('audit_events').where({ type: 'access.denied' }).orderBy('id', 'desc').first();
  expect(denied.data).toMatchObject({ via: 'slack', slack_user_id: 'UOUT', action: 'view_record', role: null });

  before = count('UAGENT');
  slack.failNext('usergroups.users.list', { error: 'fatal_error' });
  await postSlack({
    command: '/lifecycle',
    text: 'acc_acme',
    user_id: 'UAGENT',
    channel_id: CHANNEL,
    team_id: 'T0FAKE001',
    response_url: slack.responseUrl(),
    trigger_id: 't3',
  });
  expect((await lastEphemeral('UAGENT', before)).text).toMatch(/could not check your role/);

  // With the groups readable again, the agent sees the account's records.
  before = count('UAGENT');
  await postSlack({
    command: '/lifecycle',
    text: 'acc_acme',
    user_id: 'UAGENT',
    channel_id: CHANNEL,
    team_id: 'T0FAKE001',
    response_url: slack.responseUrl(),
    trigger_id: 't4',
  });
  expect(JSON.stringify((await lastEphemeral('UAGENT', before)).blocks)).toContain('acc_acme');

  const home = async (user: string) => {
    const n = slack.callsOf('views.publish').length;
    const event = slackEventRequest(
      {
        type: 'event_callback',
        team_id: 'T0FAKE001',
        api_app_id: 'A0LIFECYCLE',
        event: { type: 'app_home_opened', user, channel: 'D1', tab: 'home', event_ts: '1.0' },
        event_id: `Ev-${user}`,
        event_time: 1,
      },
      { signingSecret: SECRET },
    );
    await fetch(base + SLACK_EVENTS_PATH, { method: 'POST', headers: event.headers, body: event.body });
    await until(() => slack.callsOf('views.publish').length > n);
    return JSON.stringify(slack.callsOf('views.publish').at(-1)!.args.view);
  };
  await pendingRecord();
  expect(await home('UAGENT')).toMatch(/signed in as \*agent\*/);
  expect(await home('UAGENT')).not.toContain('Waiting for your approval');
  expect(await home('UOUT')).toMatch(/no Lifecycle Desk role/);
  expect(await home('USUP1')).toContain('Waiting for your approval');
});

it('re-posts a waiting request as a reminder mentioning the approvers, then escalates; nothing once decided', async () => {
  const { record } = await pendingRecord();
  await t
    .db('approval_requests')
    .where({ record_id: record.id })
    .update({ escalation: JSON.stringify({ user_ids: [], user_groups: ['S0LEADS'] }) });
  expect(await notifier.postApprovalRequest(record.id, 'reminder')).toBe('posted');
  const reminder = slack.callsOf('chat.postMessage').at(-1)!;
  expect(reminder.args.text).toMatch(/Reminder <@USUP1> <@USUP2> <@UAGENT>: still waiting/);
  expect(await notifier.postApprovalRequest(record.id, 'escalation')).toBe('posted');
  expect(JSON.stringify(slack.callsOf('chat.postMessage').at(-1)!.args)).toContain('<!subteam^S0LEADS>');
  // The same reminder job running twice does not post twice.
  const before = slack.callsOf('chat.postMessage').length;
  expect(await notifier.postApprovalRequest(record.id, 'reminder')).toBe('posted');
  expect(slack.callsOf('chat.postMessage')).toHaveLength(before);
  await transitionRecord(deps(), { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'agent@corp.example' } });
  expect(await notifier.postApprovalRequest(record.id, 'escalation')).toBe('not_pending');
  expect(await notifier.updateApprovalMessages(record.id)).toBe(3);
  expect(JSON.stringify(slack.callsOf('chat.update').at(-1)!.args.blocks)).toMatch(/Cancelled/);
});

it('in Socket Mode (SLACK_APP_TOKEN) receives the same clicks over the WebSocket and acknowledges them', async () => {
  const { SocketModeServer } = await import('../helpers/socket-mode-server');
  const ws = await SocketModeServer.start();
  slack.appToken = 'xapp-1-test';
  slack.socketModeUrl = ws.url;
  const socketApp = createSlackApp({
    botToken: TOKEN,
    signingSecret: SECRET,
    appToken: 'xapp-1-test',
    apiUrl: slack.url,
    queries: new KnexRecordQuerySource(t.db),
    app: deps(),
    directory: new SlackDirectory(new WebClient(TOKEN, { slackApiUrl: slack.url })),
    roles: new SlackRoles(ROLE_MAP, new SlackDirectory(new WebClient(TOKEN, { slackApiUrl: slack.url }))),
    logger: createLogger('silent'),
    ticketUrl: () => null,
    approverGroups: [],
  });
  try {
    expect(socketApp.requestListener).toBeNull();
    await socketApp.start();
    await ws.connected;
    expect(slack.callsOf('apps.connections.open').at(-1)).toMatchObject({ ok: true, token: 'xapp-1-test' });
    const { record, posted } = await pendingRecord();
    const click = JSON.parse(buttonClick('USUP2', 'approval_approve', approveButton(posted), '1.9').payload) as Record<string, unknown>;
    ws.send({ envelope_id: 'env-1', type: 'interactive', payload: click, accepts_response_payload: false, retry_attempt: 0, retry_reason: '' });
    await until(() => ws.acks.some((a) => a.envelope_id === 'env-1'));
    await until(async () => (await t.db('lifecycle_records').where({ id: record.id }).first()).state === 'approved');
  } finally {
    await socketApp.stop().catch(() => undefined);
    await ws.close();
  }
});

describe('four-eyes fails closed on an unknown identity', () => {
  it('asks Slack again after a failed lookup instead of remembering "no email"', async () => {
    const directory = new SlackDirectory(new WebClient(TOKEN, { slackApiUrl: slack.url }));
    slack.failNext('users.info', { error: 'fatal_error' });
    expect(await directory.emailOf('USUP1')).toBeNull();
    expect(await directory.emailOf('USUP1')).toBe('sup1@corp.example');
    slack.failNext('usergroups.users.list', { error: 'fatal_error' });
    slack.usergroups.set('S0LEADS01', ['USUP1']);
    expect(await directory.groupsOf('USUP1', ['S0LEADS01'])).toBeNull();
    expect(await directory.groupsOf('USUP1', ['S0LEADS01'])).toEqual(['S0LEADS01']);
  });

  it('refuses the requesting agent when the token cannot read emails: ephemeral message, audited, nothing decided', async () => {
    // U0AGENT2 requested the change and is also a listed approver; only the email tells them apart.
    slack.users.set('U0AGENT2', { id: 'U0AGENT2', email: 'agent2@corp.example', name: 'agent2' });
    const { record, posted } = await pendingRecord(1, { id: 'U0AGENT2', email: 'agent2@corp.example' });
    slack.scopes = slack.scopes.filter((s) => s !== 'users:read.email');
    try {
      const before = slack.callsOf('chat.postEphemeral').length;
      await postSlack(buttonClick('U0AGENT2', 'approval_approve', approveButton(posted), '1.3'));
      await until(() => slack.callsOf('chat.postEphemeral').length > before);
      const eph = slack.callsOf('chat.postEphemeral').at(-1)!;
      expect(eph.args).toMatchObject({ user: 'U0AGENT2', channel: CHANNEL });
      expect(eph.args.text).toMatch(/not recorded.*email.*users:read\.email/s);
      expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');
      expect(await countRows(t.db, 'approval_decisions', { record_id: record.id })).toBe(0);
      const refused = await t.db('audit_events').where({ record_id: record.id, type: 'approval.refused' }).first();
      expect(refused.data).toMatchObject({ code: 'identity_unknown', unknown: 'email' });
    } finally {
      slack.scopes = [...slack.scopes, 'users:read.email'];
    }
  });
});

it('asks auth.test at most once however many requests arrive', async () => {
  const { posted } = await pendingRecord(2);
  const before = slack.callsOf('auth.test').length;
  for (let i = 0; i < 5; i++) await postSlack(buttonClick('UOUT', 'approval_approve', approveButton(posted), `2.${i}`));
  await until(() => slack.callsOf('chat.postEphemeral').filter((c) => c.args.user === 'UOUT').length >= 5);
  expect(slack.callsOf('auth.test').length - before).toBeLessThanOrEqual(1);
});

describe('the gate before Bolt', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it.each([
    ['6 minutes ahead', 6 * 60],
    ['a day ahead', 86_400],
    ['ten years ahead', 10 * 365 * 86_400],
    ['6 minutes behind', -6 * 60],
  ])('refuses a signature timestamped %s', async (_what, offset) => {
    const { record, posted } = await pendingRecord();
    const res = await postSlack(buttonClick('USUP1', 'approval_approve', approveButton(posted), '3.1'), { timestamp: now() + offset });
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text).error.message).toMatch(/stale_timestamp/);
    await new Promise((r) => setTimeout(r, 100));
    expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');
  });

  it.each([
    ['payload=null', 'application/x-www-form-urlencoded', 'payload=null', /expected a JSON object, got null/],
    ['a JSON null', 'application/json', 'null', /expected a JSON object, got null/],
    ['a JSON array', 'application/json', '[1]', /got an array/],
    [
      'block_actions without a user',
      'application/x-www-form-urlencoded',
      new URLSearchParams({ payload: JSON.stringify({ type: 'block_actions', actions: [] }) }).toString(),
      /needs user\.id/,
    ],
    [
      'a view_submission without a view',
      'application/x-www-form-urlencoded',
      new URLSearchParams({ payload: JSON.stringify({ type: 'view_submission', user: { id: 'USUP1' } }) }).toString(),
      /needs a view/,
    ],
    [
      'a lone surrogate in a value',
      'application/json',
      JSON.stringify({ type: 'event_callback', event: { type: 'app_home_opened', user: '\ud800' } }),
      /lone UTF-16 surrogate/,
    ],
    ['a command without a user', 'application/x-www-form-urlencoded', 'command=%2Flifecycle&text=x', /needs user_id/],
    // Found by the fuzz suite: Bolt reads channel.id of a payload with actions, and threw on null (500).
    [
      'an interaction whose channel is null',
      'application/x-www-form-urlencoded',
      new URLSearchParams({
        payload: JSON.stringify({
          type: 'view_closed',
          user: { id: 'USUP1' },
          channel: null,
          actions: [{ type: 'button', action_id: 'approval_approve', value: 'x' }],
          view: { callback_id: 'x' },
        }),
      }).toString(),
      /channel must be an object/,
    ],
    // Found by the fuzz suite (seed 729916900): Bolt reads event.type whenever `event` is present.
    [
      'an app_rate_limited whose event is null',
      'application/json',
      JSON.stringify({ type: 'app_rate_limited', team_id: 'T1', minute_rate_limited: 1, event: null }),
      /event must be an object/,
    ],
  ])('answers a validly signed %s with 400 naming the problem', async (_what, type, body, why) => {
    const res = await fetch(base + SLACK_EVENTS_PATH, {
      method: 'POST',
      headers: { 'content-type': type, ...slackSignatureHeaders(SECRET, now(), body) },
      body,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(why);
    expect((await fetch(base + '/healthz')).status).toBe(200);
  });

  it('refuses a body larger than 64 KB with 413 before reading it, and /healthz answers under 100 such requests', async () => {
    const { request } = await import('node:http');
    const { port } = new URL(base);
    // Each declares 4 MB but sends only the first 128 KB and then waits: only a server that stops
    // reading at the cap answers before the client gives up.
    const oversized = () =>
      new Promise<number>((resolve, reject) => {
        const req = request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: SLACK_EVENTS_PATH,
          headers: { 'content-type': 'application/json', 'content-length': String(4 * 1024 * 1024) },
        });
        const timer = setTimeout(() => reject(new Error('no answer: the server is still reading')), 5000);
        req.on('response', (res) => {
          clearTimeout(timer);
          res.resume();
          resolve(res.statusCode!);
          req.destroy();
        });
        req.on('error', () => undefined);
        req.write(Buffer.alloc(128 * 1024, 0x61));
      });
    const started = Date.now();
    const results = Promise.all(Array.from({ length: 100 }, oversized));
    const health = await fetch(base + '/healthz');
    const healthMs = Date.now() - started;
    expect(health.status).toBe(200);
    expect(await results).toEqual(Array.from({ length: 100 }, () => 413));
    expect(healthMs).toBeLessThan(2000);
    // Without a declared length too (chunked): cut off at the cap.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: SLACK_EVENTS_PATH,
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      const timer = setTimeout(() => reject(new Error('no answer')), 5000);
      req.on('response', (res) => (clearTimeout(timer), res.resume(), resolve(res.statusCode!), req.destroy()));
      req.on('error', () => undefined);
      req.write(Buffer.alloc(70 * 1024, 0x61));
    });
    expect(chunked).toBe(413);
  });
});

it('tells the clicker the decision did not go through when PostgreSQL is down, and writes nothing', async () => {
  const { createDb } = await import('../../src/db/connection');
  const dead = createDb('postgres://lifecycle_desk_app@127.0.0.1:1/nothing', { acquireTimeoutMs: 300 });
  const downApp = createSlackApp({
    botToken: TOKEN,
    signingSecret: SECRET,
    apiUrl: slack.url,
    queries: new KnexRecordQuerySource(dead),
    app: buildDeps(dead),
    directory: new SlackDirectory(new WebClient(TOKEN, { slackApiUrl: slack.url })),
    roles: new SlackRoles(ROLE_MAP, new SlackDirectory(new WebClient(TOKEN, { slackApiUrl: slack.url }))),
    logger: createLogger('silent'),
    ticketUrl: () => null,
    approverGroups: [],
  });
  const downHttp = await buildHttpApp({
    db: dead,
    queries: new KnexRecordQuerySource(dead),
    redis,
    app: buildDeps(dead),
    logger: createLogger('silent'),
    metrics: new Metrics({ defaultMetrics: false }),
    apiToken: undefined,
    rawHandlers: new Map([[SLACK_EVENTS_PATH, downApp.requestListener!]]),
  });
  await downHttp.listen({ port: 0, host: '127.0.0.1' });
  try {
    const { record, posted } = await pendingRecord();
    const before = slack.callsOf('chat.postEphemeral').length;
    const body = new URLSearchParams(buttonClick('USUP1', 'approval_approve', approveButton(posted), '4.1')).toString();
    const res = await fetch(`http://127.0.0.1:${(downHttp.server.address() as AddressInfo).port}${SLACK_EVENTS_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...slackSignatureHeaders(SECRET, Math.floor(Date.now() / 1000), body) },
      body,
    });
    expect(res.status).toBe(200);
    await until(() => slack.callsOf('chat.postEphemeral').length > before);
    const eph = slack.callsOf('chat.postEphemeral').at(-1)!;
    expect(eph.args).toMatchObject({ user: 'USUP1', channel: CHANNEL });
    expect(eph.args.text).toMatch(/did not go through: the database is unavailable/);
    expect((await t.db('lifecycle_records').where({ id: record.id }).first()).state).toBe('pending_approval');
    expect(await countRows(t.db, 'approval_decisions', { record_id: record.id })).toBe(0);
  } finally {
    await downHttp.close();
    await dead.destroy();
  }
});
