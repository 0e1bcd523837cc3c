import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { TEST_API_TOKEN, startTestService, until } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { slackInteractionRequest } from '../helpers/fake-slack';
import { verifyAudit } from '../../src/db/audit.queries';
import { createApiToken } from '../../src/app/api-tokens';
import { KnexApiTokenStore } from '../../src/db/api-tokens.repository';

/**
 * Disputes and reversals through the running service (web and workers): API → dispute → resolve
 * as reversed → the reversal's own approval in Slack → billing → one email per outcome.
 */
let t: TestDb;
let s: TestService;
const DAY = 86_400_000;

beforeAll(async () => {
  t = await createTestDb();
  const now = Date.now();
  await seedAccounts(
    t.db,
    buildAccount({
      term_start: new Date(now - 10 * DAY).toISOString(),
      term_end: new Date(now + 20 * DAY).toISOString(),
      billing_started_at: '2025-01-01T00:00:00Z',
      contacts: ['ops@acme.example'],
    }),
  );
  s = await startTestService(t);
  s.stack.slack.users.set('U0LDSUP01', { id: 'U0LDSUP01', email: 'sup1@acme.example', name: 'sup1' });
  s.stack.slack.users.set('U0LDSUP02', { id: 'U0LDSUP02', email: 'sup2@acme.example', name: 'sup2' });
});
afterAll(async () => {
  await s.close();
  await t.destroy();
});

const api = async (path: string, body: unknown, token = TEST_API_TOKEN) => {
  const res = await fetch(`${s.base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
};
const stateOf = async (id: string) => (await t.db('lifecycle_records').where({ id }).first()).state as string;
const mails = (id: string, outcome: string) => s.stack.smtp.messages.filter((m) => m.parsed.messageId === `<${id}.${outcome}@lifecycle-desk>`);

it('a credit disputed and resolved as reversed is taken back once its reversal is approved in Slack; each outcome emails once', async () => {
  const created = await api('/api/records', {
    kind: 'service_credit',
    subtype: 'goodwill',
    account_id: 'acc_acme',
    requested_by: 'agent@support.example',
    reason_code: 'goodwill',
    effective: 'immediate',
    details: {
      period_start: new Date(Date.now() - 3 * DAY).toISOString(),
      period_end: new Date(Date.now() - 2 * DAY).toISOString(),
      requested_credit: { amount_minor: 200, currency: 'EUR' },
    },
  });
  expect(created.status).toBe(201);
  const id = created.body.record.id as string;
  await until(async () => (await stateOf(id)) === 'confirmed', 20_000, 'credit confirmed');

  // The supervisor's API token carries the same email as their Slack account.
  const { token: sup1 } = await createApiToken(
    { tokens: new KnexApiTokenStore(t.db), clock: { now: () => new Date() } },
    { name: 'sup1@acme.example', role: 'supervisor', by: 'test-admin' },
  );
  expect((await api(`/api/records/${id}/dispute`, { reason: 'The customer asked for no credit; please take it back' })).status).toBe(200);
  const resolved = await api(`/api/records/${id}/resolve`, { outcome: 'reversed', reason: 'Taken back at the customer’s request' }, sup1);
  expect(resolved.status).toBe(200);
  const reversalId = resolved.body.reversal.id as string;

  await until(() => mails(id, 'resolved').length === 1, 10_000, 'resolution email');
  await until(async () => (await stateOf(reversalId)) === 'pending_approval', 10_000, 'reversal pending');
  await until(async () => ((await t.db('approval_requests').where({ record_id: reversalId }).first())?.messages.length ?? 0) > 0, 10_000, 'approval posted');
  const request = await t.db('approval_requests').where({ record_id: reversalId }).first();
  expect(request).toMatchObject({ approvals_required: 1, rule: 'reversal (small credits)' });
  const post = s.stack.slack.callsOf('chat.postMessage').find((c) => JSON.stringify(c.args.blocks ?? '').includes(reversalId))!;
  expect(JSON.stringify(post.args.blocks)).toContain(`*Reversal* of record \`${id}\``);
  const value = (post.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[])
    .find((b) => b.type === 'actions')!
    .elements!.find((e) => e.action_id === 'approval_approve')!.value;
  const ts = request.messages[0].ts as string;
  const click = (user: string) =>
    slackInteractionRequest(
      {
        type: 'block_actions',
        user: { id: user, name: user.toLowerCase() },
        team: { id: 'T1' },
        api_app_id: 'A1',
        trigger_id: `trig-${user}`,
        channel: { id: 'C0LDAPPROVALS', name: 'approvals' },
        message: { ts, type: 'message' },
        container: { type: 'message', message_ts: ts, channel_id: 'C0LDAPPROVALS' },
        actions: [{ type: 'button', action_id: 'approval_approve', block_id: 'approval_actions', value, action_ts: '1' }],
      },
      { signingSecret: s.stack.secrets.slackSigning },
    );
  // The supervisor who resolved it filed the reversal (the same person in Slack, by email): they may not approve it.
  let c = click('U0LDSUP01');
  expect((await fetch(`${s.base}/slack/events`, { method: 'POST', headers: c.headers, body: c.body })).status).toBe(200);
  await until(
    async () => (await t.db('audit_events').where({ record_id: reversalId, type: 'approval.refused' }).first()) !== undefined,
    10_000,
    'self-approval refused',
  );
  c = click('U0LDSUP02');
  expect((await fetch(`${s.base}/slack/events`, { method: 'POST', headers: c.headers, body: c.body })).status).toBe(200);
  await until(async () => (await stateOf(reversalId)) === 'confirmed', 20_000, 'reversal confirmed');

  expect(mails(id, 'resolved')).toHaveLength(1);
  expect(mails(reversalId, 'reversed')).toHaveLength(1);
  expect(mails(reversalId, 'reversed')[0]!.parsed.text).toContain('This takes back €2.00');
  const net = await t
    .db('ledger_entries as e')
    .join('ledger_transactions as x', 'x.id', 'e.transaction_id')
    .whereIn('x.record_id', [id, reversalId])
    .groupBy('e.ledger_account')
    .select('e.ledger_account')
    .sum({ d: 'e.debit_minor', c: 'e.credit_minor' });
  for (const row of net as unknown as { ledger_account: string; d: string; c: string }[])
    expect([row.ledger_account, Number(row.d) - Number(row.c)]).toEqual([row.ledger_account, 0]);
  expect((await verifyAudit(t.db, 'acc_acme')).broken).toBeNull();
});
