import path from 'node:path';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { CustomerLinks } from '../../src/app/customer-links';
import { sendCustomerEmail } from '../../src/app/send-email';
import { customerRoutes } from '../../src/http/customer.routes';
import { loadConfig } from '../../src/config';
import { EmailTemplates } from '../../src/integrations/email/templates';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import type { Policy } from '../../src/records/policy';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest, NOW } from '../helpers/builders';
import { buildDeps, seedAccounts, TestClock } from '../helpers/app';
import { buildTestHttp } from '../helpers/http';
import type { TestHttp } from '../helpers/http';

/**
 * The signed link in a scheduled change's email: the customer sees the change and cancels it
 * (when the policy lets customers cancel that kind) until its effective instant; 410 after it,
 * 403 for a link that was tampered with; the customer is the recorded actor.
 */

const SECRET = 'customer-link-secret-0123456789abcdef';
const links = new CustomerLinks(SECRET, 'https://desk.example.com/');
const clock = new TestClock(NOW);
let policy: Pick<Policy, 'customer_may_cancel'> = {};

let t: TestDb;
let http: TestHttp;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount({ contacts: ['ops@acme.example'] }));
  http = await buildTestHttp(t.db, {
    extra: {
      plugins: [
        (scope) =>
          customerRoutes(scope, {
            store: buildDeps(t.db).store,
            clock,
            links,
            get policy() {
              return policy;
            },
          }),
      ],
    },
  });
});
afterAll(async () => {
  await http.close();
  await t.destroy();
});
afterEach(() => {
  clock.set(NOW);
  policy = {};
});

/** An end-of-term downgrade, approved and scheduled for the term end (1 April 2026). */
async function scheduledDowngrade(): Promise<{ id: string; token: string; effectiveAt: string }> {
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, {
    request: buildRequest('downgrade', { effective: 'end_of_term' }),
    actor: { role: 'agent', id: 'agent-1' },
    onProblems: 'reject',
  });
  await transitionRecord(deps, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
  const { record: scheduled } = await transitionRecord(deps, { recordId: record.id, event: 'schedule', actor: { role: 'system', id: 'billing' } });
  return { id: record.id, token: links.tokenFor(scheduled)!, effectiveAt: scheduled.effective_at! };
}

const view = (token: string) => http.app.inject({ method: 'GET', url: `/customer/changes/${token}` });
const cancel = (token: string) =>
  http.app.inject({
    method: 'POST',
    url: '/customer/changes/cancel',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ token }).toString(),
  });
const stateOf = async (id: string) => (await t.db('lifecycle_records').where({ id }).first('state')).state as string;
const tamper = (token: string) => {
  const [id, exp, mac] = token.split('.');
  return `${id}.${exp}.${mac!.slice(0, -2)}${mac!.endsWith('AA') ? 'AB' : 'AA'}`;
};

it('shows the scheduled change with a cancel form that carries the token, as a no-store, no-referrer page', async () => {
  const { token, effectiveAt } = await scheduledDowngrade();
  expect(effectiveAt).toBe('2026-04-01T00:00:00.000Z');
  const res = await view(token);
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/html/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['referrer-policy']).toBe('no-referrer');
  expect(res.headers['content-security-policy']).toContain("form-action 'self'");
  expect(res.body).toContain('Acme GmbH');
  expect(res.body).toContain('Plan downgrade');
  expect(res.body).toContain('1 April 2026');
  expect(res.body).toContain('<form method="post" action="/customer/changes/cancel">');
  expect(res.body).toContain(`name="token" value="${token}"`);
  expect(res.body).not.toMatch(/<script/i);
});

it('the customer cancels: the record is cancelled with the customer as actor, billing is told and the customer emailed; a second submit changes nothing', async () => {
  const { id, token } = await scheduledDowngrade();
  const res = await cancel(token);
  expect(res.statusCode).toBe(200);
  expect(res.body).toContain('Your change has been cancelled');
  expect(await stateOf(id)).toBe('cancelled');
  const event = await t.db('audit_events').where({ record_id: id, type: 'record.cancel' }).first();
  expect(event.actor).toEqual({ role: 'customer', id: 'account:acc_acme' });
  expect(event.data).toMatchObject({ via: 'customer_link' });
  const topics = (await t.db('outbox').whereRaw(`payload->>'record_id' = ?`, [id]).select('key')).map((r) => r.key);
  expect(topics).toEqual(expect.arrayContaining([`billing-unschedule.${id}`, `email.${id}.cancelled`]));
  const again = await cancel(token);
  expect(again.statusCode).toBe(200);
  expect(await t.db('audit_events').where({ record_id: id, type: 'record.cancel' })).toHaveLength(1);
  expect((await view(token)).body).toContain('This change was cancelled');
});

it('refuses a tampered, truncated, re-targeted or made-up link with 403 and changes nothing', async () => {
  const { id, token } = await scheduledDowngrade();
  const other = await scheduledDowngrade();
  const [, exp, mac] = token.split('.');
  const [otherId] = other.token.split('.');
  const later = `${id}.${Number(exp) + 86_400}.${mac}`;
  for (const bad of [tamper(token), token.slice(0, -5), `${otherId}.${exp}.${mac}`, later, 'not-a-token', `${id}.${exp}`]) {
    expect((await view(bad)).statusCode).toBe(403);
    expect((await cancel(bad)).statusCode).toBe(403);
  }
  // A link signed with another key.
  const foreign = new CustomerLinks('another-secret-0123456789abcdefghij', 'https://desk.example.com').tokenFor({ id, effective_at: '2026-04-01T00:00:00Z' })!;
  expect((await view(foreign)).statusCode).toBe(403);
  expect(await stateOf(id)).toBe('scheduled');
  // A cross-site form without the token (or a JSON body) is refused the same way.
  const noToken = await http.app.inject({
    method: 'POST',
    url: '/customer/changes/cancel',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: 'id=' + id,
  });
  expect(noToken.statusCode).toBe(403);
  expect(await stateOf(id)).toBe('scheduled');
});

it('answers 410 from the effective instant on, to view and to cancel', async () => {
  const { id, token } = await scheduledDowngrade();
  clock.set(new Date('2026-03-31T23:59:59Z'));
  expect((await view(token)).statusCode).toBe(200);
  clock.set(new Date('2026-04-01T00:00:00Z'));
  const gone = await view(token);
  expect(gone.statusCode).toBe(410);
  expect(gone.body).toContain('took effect on 2026-04-01');
  expect((await cancel(token)).statusCode).toBe(410);
  expect(await stateOf(id)).toBe('scheduled');
});

it('offers no cancel where the policy does not let customers cancel that kind, and refuses the POST with 403', async () => {
  policy = { customer_may_cancel: ['termination'] };
  const { id, token } = await scheduledDowngrade();
  const page = await view(token);
  expect(page.statusCode).toBe(200);
  expect(page.body).not.toContain('<form');
  expect(page.body).toContain('reply to your email or contact support');
  expect((await cancel(token)).statusCode).toBe(403);
  expect(await stateOf(id)).toBe('scheduled');
});

it("the scheduled email carries the link, and the link opens the change's page", async () => {
  const smtp = await SmtpStandin.start();
  const sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'support@lifecycle.example' });
  try {
    const { id, token } = await scheduledDowngrade();
    const renderer = EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email'), { strictVariables: true });
    await sendCustomerEmail({ ...buildDeps(t.db), sender, renderer, messageIdDomain: 'lifecycle-desk', customerLinks: links }, id, 'scheduled');
    const mail = smtp.messages.find((m) => m.parsed.messageId === `<${id}.scheduled@lifecycle-desk>`)!;
    const url = `https://desk.example.com/customer/changes/${token}`;
    expect(mail.parsed.text).toContain(url);
    expect(mail.parsed.html).toContain(`href="${url}"`);
    expect((await view(new URL(url).pathname.split('/').pop()!)).statusCode).toBe(200);
  } finally {
    sender.close();
    await smtp.close();
  }
});

it('needs PUBLIC_BASE_URL and CUSTOMER_LINK_SECRET together, the secret at least 32 characters', () => {
  expect(loadConfig({ PUBLIC_BASE_URL: 'https://desk.example.com', CUSTOMER_LINK_SECRET: SECRET }).customerLinks).toEqual({
    publicBaseUrl: 'https://desk.example.com',
    secret: SECRET,
  });
  expect(loadConfig({}).customerLinks).toBeNull();
  expect(() => loadConfig({ PUBLIC_BASE_URL: 'https://desk.example.com' })).toThrow(/CUSTOMER_LINK_SECRET: customer links need both/);
  expect(() => loadConfig({ PUBLIC_BASE_URL: 'https://desk.example.com', CUSTOMER_LINK_SECRET: 'short' })).toThrow(
    /CUSTOMER_LINK_SECRET: expected at least 32 characters/,
  );
});
