import { ErrorCode, LogLevel, WebClient, WebClientEvent } from '@slack/web-api';
import type { Logger, WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError } from '@slack/web-api';
import { approvalRequestMessage, appHomeView, decisionMessage, rejectReasonModal } from '../../src/integrations/slack/blocks';
import type { LifecycleRecord } from '../../src/records/kinds';
import { FakeSlack } from '../helpers/fake-slack';

const TOKEN = 'xoxb-test-token';
const CHANNEL = 'C0APPROVALS';

/** The client logs refused calls and rate limits; the tests assert on them instead. */
const quietLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  setLevel: () => undefined,
  getLevel: () => LogLevel.ERROR,
  setName: () => undefined,
};

const record: LifecycleRecord = {
  id: 'rec_0001',
  kind: 'service_credit',
  subtype: 'goodwill',
  account_id: 'acc_acme',
  ticket_id: '4242',
  requested_by: 'agent@support.example',
  requester: { email: 'ops@acme.example' },
  reason_code: 'goodwill',
  reason_text: 'Long-standing customer, delayed onboarding.',
  effective: 'immediate',
  effective_at: '2026-03-16T12:00:00Z',
  state: 'pending_approval',
  version: 2,
  details: { period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-11T00:00:00Z', requested_credit: { amount_minor: 5000, currency: 'EUR' } },
  amount: { amount_minor: -5000, currency: 'EUR' },
  risk_flags: [],
  problems: [],
  created_at: '2026-03-16T11:00:00Z',
  updated_at: '2026-03-16T11:00:00Z',
};

const approvalView = {
  record,
  accountName: 'Acme GmbH',
  ticketUrl: 'https://acme.zendesk.com/agent/tickets/4242',
  riskExplanations: [],
  approvalsRequired: 1 as const,
  approvals: [],
};

let fake: FakeSlack;
let client: WebClient;

const clientWith = (token: string | undefined, extra: ConstructorParameters<typeof WebClient>[1] = {}) =>
  new WebClient(token, { slackApiUrl: fake.url, retryConfig: { retries: 2 }, logger: quietLogger, ...extra });

/** Runs a call expected to fail and returns the error the client threw. */
async function failure<E = WebAPIPlatformError>(call: Promise<unknown>): Promise<E> {
  try {
    await call;
  } catch (e) {
    return e as E;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  fake = await FakeSlack.start({ token: TOKEN });
  fake.users.set('U0SUPER1', { id: 'U0SUPER1', email: 'Sup.One@Example.com', name: 'sup.one', real_name: 'Sup One' });
  fake.users.set('U0AGENT1', { id: 'U0AGENT1', email: 'agent@support.example', name: 'agent' });
  fake.usergroups.set('S0APPROVERS', ['U0SUPER1']);
  client = clientWith(TOKEN);
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => fake.reset());

describe('FakeSlack through @slack/web-api', () => {
  it('accepts chat.postMessage as the client sends it: form-encoded, blocks as JSON, bearer token', async () => {
    const message = approvalRequestMessage(approvalView);
    const res = await client.chat.postMessage({ channel: CHANNEL, ...message });
    expect(res).toMatchObject({ ok: true, channel: CHANNEL, ts: '1700000000.000100', message: { text: message.text } });

    const [call] = fake.callsOf('chat.postMessage');
    expect(call).toMatchObject({ ok: true, token: TOKEN, contentType: 'application/x-www-form-urlencoded' });
    // What supervisors would see, decoded from the wire format.
    expect(call!.args.blocks).toEqual(message.blocks);
    expect(call!.args.text).toBe(message.text);

    const second = await client.chat.postMessage({ channel: CHANNEL, text: 'next' });
    expect(second.ts).toBe('1700000000.000200');
  });

  it('chat.update edits the posted message and refuses one that does not exist', async () => {
    const posted = await client.chat.postMessage({ channel: CHANNEL, ...approvalRequestMessage(approvalView) });
    const decided = decisionMessage({
      record,
      accountName: 'Acme GmbH',
      ticketUrl: null,
      outcome: 'approved',
      decidedBy: ['U0SUPER1'],
      decidedAt: '2026-03-16T12:00:00Z',
    });
    const res = await client.chat.update({ channel: CHANNEL, ts: posted.ts!, ...decided });
    expect(res).toMatchObject({ ok: true, channel: CHANNEL, ts: posted.ts, text: decided.text });

    const stored = fake.message(CHANNEL, posted.ts!)!;
    expect(stored.blocks).toEqual(decided.blocks);
    // The approval buttons are gone; an approved change keeps only the supervisors' Dispute… button.
    expect(JSON.stringify(stored.blocks)).not.toMatch(/approval_approve|approval_reject/);
    expect(stored.updates).toHaveLength(1);

    const missing = await failure(client.chat.update({ channel: CHANNEL, ts: '1600000000.000001', text: 'x' }));
    expect(missing.code).toBe(ErrorCode.PlatformError);
    expect(missing.data.error).toBe('message_not_found');
  });

  it('chat.postEphemeral needs channel, user and content', async () => {
    const res = await client.chat.postEphemeral({ channel: CHANNEL, user: 'U0SUPER1', text: 'You requested this change, so someone else must approve it.' });
    expect(res.ok).toBe(true);
    expect(res.message_ts).toMatch(/^1700000000\.\d{6}$/);

    const noUser = await failure(client.apiCall('chat.postEphemeral', { channel: CHANNEL, text: 'x' }));
    expect(noUser.data.error).toBe('invalid_arguments');
    expect(noUser.data.response_metadata?.messages).toEqual(['[ERROR] missing required field: user [json-pointer:/user]']);
  });

  it('chat.getPermalink links to a posted message', async () => {
    const posted = await client.chat.postMessage({ channel: CHANNEL, text: 'hello' });
    const res = await client.chat.getPermalink({ channel: CHANNEL, message_ts: posted.ts! });
    expect(res.permalink).toBe(`https://fake-workspace.slack.com/archives/${CHANNEL}/p${posted.ts!.replace('.', '')}`);
  });

  it('views.open takes the reject modal and refuses a modal Slack would refuse', async () => {
    const view = rejectReasonModal({ record_id: record.id, version: 2, channel: CHANNEL, message_ts: '1700000000.000100' });
    const res = await client.views.open({ trigger_id: '12345.98765.abcd2358fdea', view });
    expect(res.ok).toBe(true);
    expect(res.view).toMatchObject({ type: 'modal', callback_id: 'approval_reject_modal', private_metadata: view.private_metadata });
    expect(res.view!.id).toMatch(/^V/);
    expect(fake.callsOf('views.open')[0]!.args.view).toEqual(view);

    const tooLongTitle = await failure(
      client.views.open({ trigger_id: '1.2.3', view: { ...view, title: { type: 'plain_text', text: 'A title far longer than Slack allows' } } }),
    );
    expect(tooLongTitle.data.error).toBe('invalid_arguments');
    expect(tooLongTitle.data.response_metadata?.messages?.[0]).toContain('[json-pointer:/view/title/text]');

    const { submit: _submit, ...noSubmit } = view;
    const inputWithoutSubmit = await failure(client.views.open({ trigger_id: '1.2.3', view: noSubmit }));
    expect(inputWithoutSubmit.data.response_metadata?.messages).toContain('[ERROR] missing required field [json-pointer:/view/submit]');

    fake.failNext('views.open', { error: 'expired_trigger_id' });
    expect((await failure(client.views.open({ trigger_id: '1.2.3', view }))).data.error).toBe('expired_trigger_id');
  });

  it('views.publish takes the home tab for a user id', async () => {
    const res = await client.views.publish({ user_id: 'U0SUPER1', view: appHomeView([]) });
    expect(res.ok).toBe(true);
    expect(res.view).toMatchObject({ type: 'home' });

    const modalAsHome = await failure(
      client.views.publish({ user_id: 'U0SUPER1', view: rejectReasonModal({ record_id: 'r', version: 1, channel: CHANNEL, message_ts: '1.2' }) }),
    );
    expect(modalAsHome.data.error).toBe('invalid_arguments');
    const byEmail = await failure(client.views.publish({ user_id: 'sup.one@example.com', view: appHomeView([]) }));
    expect(byEmail.data.error).toBe('user_not_found');
  });

  it('users.info, users.lookupByEmail and usergroups.users.list answer from the seeded directory', async () => {
    const info = await client.users.info({ user: 'U0SUPER1' });
    expect(info.user).toMatchObject({ id: 'U0SUPER1', name: 'sup.one', profile: { email: 'Sup.One@Example.com', real_name: 'Sup One' } });

    const byEmail = await client.users.lookupByEmail({ email: 'sup.one@example.com' });
    expect(byEmail.user?.id).toBe('U0SUPER1');
    expect((await failure(client.users.lookupByEmail({ email: 'nobody@example.com' }))).data.error).toBe('users_not_found');
    expect((await failure(client.users.info({ user: 'U0NOBODY' }))).data.error).toBe('user_not_found');

    const members = await client.usergroups.users.list({ usergroup: 'S0APPROVERS' });
    expect(members.users).toEqual(['U0SUPER1']);
    expect((await failure(client.usergroups.users.list({ usergroup: 'S0MISSING' }))).data.error).toBe('no_such_subteam');
  });

  it('auth.test answers, so Bolt can start against the fake', async () => {
    const res = await client.auth.test();
    expect(res).toMatchObject({ ok: true, user_id: 'U0FAKEBOT', bot_id: 'B0FAKEBOT', team_id: 'T0FAKE001' });
  });

  it('answers 429 with Retry-After; the client waits, retries and succeeds', async () => {
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const rateLimited: number[] = [];
    client.on(WebClientEvent.RATE_LIMITED, (seconds: number) => rateLimited.push(seconds));
    const started = Date.now();
    const res = await client.chat.postMessage({ channel: CHANNEL, text: 'after a rate limit' });
    client.removeAllListeners(WebClientEvent.RATE_LIMITED);

    expect(res.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(rateLimited).toEqual([1]);
    expect(fake.callsOf('chat.postMessage').map((c) => c.status)).toEqual([429, 200]);
    expect(fake.messages.size).toBe(1);
  });

  it('lets a client that rejects rate-limited calls see Retry-After', async () => {
    fake.failNext('chat.update', { status: 429, retryAfter: 7 });
    const strict = clientWith(TOKEN, { rejectRateLimitedCalls: true });
    const err = await failure<WebAPIRateLimitedError>(strict.chat.update({ channel: CHANNEL, ts: '1.2', text: 'x' }));
    expect(err.code).toBe(ErrorCode.RateLimitedError);
    expect(err.retryAfter).toBe(7);
  });

  it('fails the next calls with an API error when told to, then recovers', async () => {
    fake.failNext('chat.postMessage', { error: 'channel_not_found' }, 2);
    for (let i = 0; i < 2; i += 1) {
      expect((await failure(client.chat.postMessage({ channel: 'C0GONE', text: 'x' }))).data.error).toBe('channel_not_found');
    }
    expect((await client.chat.postMessage({ channel: CHANNEL, text: 'x' })).ok).toBe(true);
  });

  it('refuses a wrong token, and a missing one', async () => {
    const wrong = await failure(clientWith('xoxb-wrong').chat.postMessage({ channel: CHANNEL, text: 'x' }));
    expect(wrong.data.error).toBe('invalid_auth');
    expect(fake.callsOf('chat.postMessage')[0]).toMatchObject({ ok: false, token: 'xoxb-wrong', error: 'invalid_auth' });
    expect((await failure(clientWith(undefined).chat.postMessage({ channel: CHANNEL, text: 'x' }))).data.error).toBe('not_authed');
    expect(fake.messages.size).toBe(0);
  });

  it('refuses bad calls the way Slack does', async () => {
    const noChannel = await failure(client.apiCall('chat.postMessage', { text: 'x' }));
    expect(noChannel.data.error).toBe('invalid_arguments');

    expect((await failure(client.apiCall('chat.postMessage', { channel: CHANNEL }))).data.error).toBe('no_text');

    const longSection = await failure(
      client.chat.postMessage({ channel: CHANNEL, text: 'x', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'a'.repeat(3001) } }] }),
    );
    expect(longSection.data.error).toBe('invalid_blocks');
    expect(longSection.data.response_metadata?.messages).toEqual(['[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]']);

    const tooMany = await failure(
      client.chat.postMessage({ channel: CHANNEL, text: 'x', blocks: Array.from({ length: 51 }, () => ({ type: 'divider' as const })) }),
    );
    expect(tooMany.data.error).toBe('invalid_blocks');

    const bigValue = await failure(
      client.chat.postMessage({
        channel: CHANNEL,
        text: 'x',
        blocks: [{ type: 'actions', elements: [{ type: 'button', action_id: 'a', text: { type: 'plain_text', text: 'Go' }, value: 'v'.repeat(2001) }] }],
      }),
    );
    expect(bigValue.data.response_metadata?.messages?.[0]).toContain('/blocks/0/elements/0/value');

    const unknownType = await failure(client.chat.postMessage({ channel: CHANNEL, text: 'x', blocks: [{ type: 'sectoin' }] }));
    expect(unknownType.data.response_metadata?.messages).toEqual(['[ERROR] unknown block type "sectoin" [json-pointer:/blocks/0/type]']);

    const dupBlockId = await failure(
      client.chat.postMessage({
        channel: CHANNEL,
        text: 'x',
        blocks: [
          { type: 'divider', block_id: 'a' },
          { type: 'divider', block_id: 'a' },
        ],
      }),
    );
    expect(dupBlockId.data.error).toBe('invalid_blocks');

    expect(fake.messages.size).toBe(0);
    expect(fake.calls.every((c) => !c.ok && c.status === 200)).toBe(true);
  });

  it('answers unknown methods with 404', async () => {
    // The client retries any non-200 answer; no retries keeps this test fast.
    const once = clientWith(TOKEN, { retryConfig: { retries: 0 } });
    const err = await failure<WebAPIHTTPError>(once.apiCall('chat.postMesage', { channel: CHANNEL, text: 'x' }));
    expect(err.code).toBe(ErrorCode.HTTPError);
    expect(err.statusCode).toBe(404);
    // WebAPIHTTPError parses a JSON body for us.
    expect(err.body).toEqual({ ok: false, error: 'unknown_method', req_method: 'chat.postMesage' });
  });

  it('also accepts a JSON body with the token in the Authorization header, as Slack does', async () => {
    const blocks = approvalRequestMessage(approvalView).blocks;
    const res = await fetch(`${fake.url}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ channel: CHANNEL, text: 'json', blocks }),
    });
    expect(await res.json()).toMatchObject({ ok: true, channel: CHANNEL });
    expect(fake.callsOf('chat.postMessage')[0]!.args.blocks).toEqual(blocks);
  });

  it('serves response_url for respond(), keeping what was posted', async () => {
    const url = fake.responseUrl();
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', text: 'hi' }),
    });
    expect(res.status).toBe(200);
    expect(fake.responses).toEqual([{ url, body: { response_type: 'ephemeral', text: 'hi' } }]);
  });
});
