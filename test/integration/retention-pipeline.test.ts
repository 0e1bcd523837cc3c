import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { seedAccounts } from '../helpers/app';
import { TEST_API_TOKEN, startTestService, until, zendeskHeaders } from '../helpers/service';
import type { TestService } from '../helpers/service';
import { triggerBody } from '../fixtures/zendesk-trigger';

/**
 * The customer loop end to end, on the running service (web, relay, workers) with the example
 * policy: a termination for unused features is held for its retention offer and the ticket says
 * so; the agent records "accepted"; the termination is withdrawn (one email, Reply-To the Zendesk
 * support address) and the smaller plan is filed, approved and scheduled; its email carries the
 * customer's link, and the customer cancels the downgrade through it.
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
      id: 'acc_keep',
      name: 'Keep GmbH',
      term_start: new Date(now - 10 * DAY).toISOString(),
      term_end: new Date(now + 20 * DAY).toISOString(),
      notice_period_days: 0,
      contacts: ['ops@keep.example'],
    }),
  );
  s = await startTestService(t, { env: { PUBLIC_BASE_URL: 'https://desk.example.com', CUSTOMER_LINK_SECRET: 'customer-link-secret-0123456789abcdef' } });
  s.stack.zendesk.users.set(1, { id: 1, name: 'Olga Ops', email: 'ops@keep.example' });
  s.stack.zendesk.users.set(2, { id: 2, name: 'Agent Smith', email: 'agent@support.example' });
  s.stack.zendesk.addTicket({ id: 9601, requester_id: 1, assignee_id: 2, tags: ['lifecycle_request'] });
});
afterAll(async () => {
  await s.close();
  await t.destroy();
});

const api = { authorization: `Bearer ${TEST_API_TOKEN}`, 'content-type': 'application/json' };
const recordOf = async (id: string) => t.db('lifecycle_records').where({ id }).first();
const mails = (id: string, outcome: string) => s.stack.smtp.messages.filter((m) => m.parsed.messageId === `<${id}.${outcome}@lifecycle-desk>`);

it('offer held, accepted, termination withdrawn, downgrade scheduled, then cancelled by the customer through their link', async () => {
  const raw = JSON.stringify(
    triggerBody(9601, { kind: 'lc_termination', subtype: 'lc_customer_initiated', account_id: 'acc_keep', reason_code: 'unused_features' }),
  );
  const res = await fetch(`${s.base}/webhooks/zendesk`, { method: 'POST', headers: zendeskHeaders(s.stack.secrets.zendeskWebhook, raw), body: raw });
  expect(res.status).toBe(200);
  const { record_id: id } = (await res.json()) as { record_id: string };

  await until(async () => (await recordOf(id)).details.retention_offer?.outcome === 'pending', 20_000, 'offer recorded');
  await until(
    () => s.stack.zendesk.notes(9601).some((n) => n.includes('Retention offer to put to the customer first: a move to the Starter plan.')),
    40_000,
    'ticket note',
  );
  expect((await recordOf(id)).state).toBe('submitted');
  expect(s.stack.slack.callsOf('chat.postMessage')).toHaveLength(0);

  const answer = await fetch(`${s.base}/api/records/${id}/retention-offer`, { method: 'POST', headers: api, body: JSON.stringify({ outcome: 'accepted' }) });
  expect(answer.status).toBe(200);
  const { linked_record } = (await answer.json()) as { linked_record: { id: string } };

  // The withdrawn termination: one email, replies going to the Zendesk support address.
  await until(() => mails(id, 'cancelled').length > 0, 20_000, 'cancelled email');
  const [withdrawn] = mails(id, 'cancelled');
  expect(withdrawn!.parsed.replyTo).toEqual([{ address: 'support@lifecycle-demo.zendesk.com', name: '' }]);
  expect(withdrawn!.parsed.text).toContain('Retention offer accepted: a move to the Starter plan');

  // The downgrade is auto-approved by the example policy and scheduled for the term end.
  await until(async () => (await recordOf(linked_record.id)).state === 'scheduled', 20_000, 'downgrade scheduled');
  await until(() => mails(linked_record.id, 'scheduled').length > 0, 20_000, 'scheduled email');
  const link = /https:\/\/desk\.example\.com(\/customer\/changes\/[A-Za-z0-9._-]+)/.exec(mails(linked_record.id, 'scheduled')[0]!.parsed.text ?? '');
  expect(link).not.toBeNull();

  const page = await fetch(`${s.base}${link![1]}`);
  expect(page.status).toBe(200);
  const html = await page.text();
  const token = /name="token" value="([^"]+)"/.exec(html)![1]!;
  const cancelled = await fetch(`${s.base}/customer/changes/cancel`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
  expect(cancelled.status).toBe(200);
  expect((await recordOf(linked_record.id)).state).toBe('cancelled');
  await until(() => mails(linked_record.id, 'cancelled').length > 0, 20_000, 'downgrade cancelled email');
  expect(mails(linked_record.id, 'cancelled')[0]!.parsed.text).toContain('As you asked');

  // Tampered: refused.
  expect((await fetch(`${s.base}${link![1]!.slice(0, -3)}xyz`)).status).toBe(403);
  await new Promise((r) => setTimeout(r, 500));
  expect(mails(id, 'cancelled')).toHaveLength(1);
  expect(mails(linked_record.id, 'cancelled')).toHaveLength(1);
}, 120_000);
