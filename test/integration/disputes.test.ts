import path from 'node:path';
import { applyRecord } from '../../src/app/apply-record';
import { createRecord } from '../../src/app/create-record';
import { sendCustomerEmail } from '../../src/app/send-email';
import type { EmailOutcome } from '../../src/app/record-events';
import { transitionRecord } from '../../src/app/transition-record';
import { verifyAudit } from '../../src/db/audit.queries';
import { LedgerBillingProvider } from '../../src/integrations/billing/ledger.provider';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import { EmailTemplates, catalogDisplayNames } from '../../src/integrations/email/templates';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { countRows, seedAccounts } from '../helpers/app';
import { buildAccount, buildCatalog, buildRequest } from '../helpers/builders';
import { auth, buildTestHttp } from '../helpers/http';
import { createApiToken } from '../../src/app/api-tokens';
import { KnexApiTokenStore } from '../../src/db/api-tokens.repository';
import type { Role } from '../../src/records/access';
import type { TestHttp } from '../helpers/http';

/** Disputes and resolutions through the HTTP API, with the customer's resolution email over real SMTP. */
let t: TestDb;
let h: TestHttp;
let smtp: SmtpStandin;
let sender: SmtpEmailSender;
/** Per-caller API tokens: the actor is the token's caller, never a name in the body. */
const NAMES: Record<Role, string> = {
  agent: 'agent_1@support.example',
  supervisor: 'sup@support.example',
  finance: 'fin@support.example',
  admin: 'admin@support.example',
};
const tokens: Partial<Record<Role, string>> = {};
const templates = EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email'), {
  displayNames: catalogDisplayNames(buildCatalog()),
  strictVariables: true,
});

beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
  h = await buildTestHttp(t.db);
  smtp = await SmtpStandin.start();
  sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'Support <support@acme.example>' });
  for (const [role, name] of Object.entries(NAMES))
    tokens[role as Role] = (await createApiToken({ tokens: new KnexApiTokenStore(t.db), clock: h.deps.clock }, { name, role, by: 'test-admin' })).token;
});
afterAll(async () => {
  sender.close();
  await smtp.close();
  await h.close();
  await t.destroy();
});

const email = (recordId: string, outcome: EmailOutcome) =>
  sendCustomerEmail({ store: h.deps.store, clock: h.deps.clock, sender, renderer: templates, messageIdDomain: 'lifecycle-desk' }, recordId, outcome);
const mailsOf = (recordId: string, outcome: string) => smtp.messages.filter((m) => m.parsed.messageId === `<${recordId}.${outcome}@lifecycle-desk>`);

/** A €3 goodwill credit, applied through the ledger and confirmed by its email. */
async function confirmedCredit() {
  const d = h.deps;
  const { record } = await createRecord(d, {
    request: buildRequest('service_credit', {
      ticket_id: '901',
      details: { period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-11T00:00:00Z', requested_credit: { amount_minor: 300, currency: 'EUR' } },
    }),
    actor: { role: 'agent', id: 'agent_1' },
    onProblems: 'reject',
  });
  await transitionRecord(d, { recordId: record.id, event: 'auto_approve', actor: { role: 'system', id: 'policy' } });
  expect(await applyRecord({ ...d, billing: new LedgerBillingProvider(t.db) }, record.id)).toBe('applied');
  expect(await email(record.id, 'credit_granted')).toBe('sent');
  const confirmed = await t.db('lifecycle_records').where({ id: record.id }).first();
  expect(confirmed.state).toBe('confirmed');
  return { id: record.id as string, version: confirmed.version as number };
}

const post = (url: string, payload: unknown, as: Role = 'agent') =>
  h.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${tokens[as]}` }, payload: payload as object });
/** An event as the API returns it (personal values such as reasons resolved from the side table). */
const eventOf = async (recordId: string, type: string) => {
  const r = await h.app.inject({ method: 'GET', url: `/api/records/${recordId}`, headers: auth });
  return (r.json().events as { type: string; actor: unknown; data: Record<string, unknown> }[]).find((e) => e.type === type)!;
};

it('a confirmed record is disputed with a reason and referenced documents, then resolved as upheld; the customer gets exactly one resolution email', async () => {
  const { id, version } = await confirmedCredit();
  const disputed = await post(`/api/records/${id}/dispute`, {
    version,
    reason: 'The customer says the outage lasted two days, not one',
    documents: [{ zendesk_attachment_id: '4455667788' }, { url: 'https://files.acme.example/outage-log.pdf' }],
  });
  expect(disputed.statusCode).toBe(200);
  expect(disputed.json().record.state).toBe('disputed');
  const event = await eventOf(id, 'record.dispute');
  expect(event.actor).toEqual({ role: 'agent', id: 'agent_1@support.example' });
  expect(event.data).toMatchObject({
    from: 'confirmed',
    to: 'disputed',
    reason: 'The customer says the outage lasted two days, not one',
    documents: [{ zendesk_attachment_id: '4455667788' }, { url: 'https://files.acme.example/outage-log.pdf' }],
  });

  // Agents and finance do not decide disputes (403, audited); nor may a body claim another person.
  for (const role of ['agent', 'finance'] as const)
    expect((await post(`/api/records/${id}/resolve`, { outcome: 'upheld', reason: 'logs show one day' }, role)).statusCode).toBe(403);
  expect((await post(`/api/records/${id}/resolve`, { by: 'boss@support.example', outcome: 'upheld', reason: 'x' }, 'supervisor')).statusCode).toBe(403);
  expect(await countRows(t.db, 'audit_events', { record_id: id, type: 'access.denied' })).toBe(3);

  const resolved = await post(
    `/api/records/${id}/resolve`,
    { outcome: 'upheld', reason: 'Our monitoring shows the outage lasted 26 hours; the credit covers it.' },
    'supervisor',
  );
  expect(resolved.statusCode).toBe(200);
  expect(resolved.json()).toMatchObject({ record: { state: 'resolved' }, outcome: 'upheld', reversal: null });
  expect((await eventOf(id, 'record.resolve')).actor).toEqual({ role: 'supervisor', id: 'sup@support.example' });
  expect(await countRows(t.db, 'outbox', { key: `email.${id}.resolved` })).toBe(1);

  expect(await email(id, 'resolved')).toBe('sent');
  // The email job delivered again (a crashed worker's job, a replayed outbox row) sends nothing more.
  expect(await email(id, 'resolved')).toBe('already_sent');
  const mails = mailsOf(id, 'resolved');
  expect(mails).toHaveLength(1);
  const text = mails[0]!.parsed.text ?? '';
  expect(mails[0]!.parsed.subject).toMatch(/dispute about your service credit is resolved \(Ticket #901\)/);
  expect(text).toMatch(/Our decision: the change stands as it was made\./);
  expect(text).toContain('The reason: Our monitoring shows the outage lasted 26 hours; the credit covers it.');
  expect(mails[0]!.parsed.html).toContain('the change stands as it was made');
  expect(await countRows(t.db, 'audit_events', { record_id: id, type: 'email.sent' })).toBe(2);
  expect((await verifyAudit(t.db, 'acc_acme')).broken).toBeNull();
});

it('refuses a dispute without a reason, with documents sent inline or by a non-https link, and changes nothing', async () => {
  const { id } = await confirmedCredit();
  const cases: [unknown, RegExp][] = [
    [{ reason: '  ' }, /reason is required/],
    [{ reason: 'wrong amount', documents: [{ url: 'data:application/pdf;base64,JVBERi0xLjQK' }] }, /https URL/],
    [{ reason: 'wrong amount', documents: [{ url: 'http://files.acme.example/log.pdf' }] }, /https URL/],
    [{ reason: 'wrong amount', documents: [{ url: 'https://user:pw@files.acme.example/log.pdf' }] }, /https URL/],
    [{ reason: 'wrong amount', documents: [{ filename: 'log.pdf', content: 'JVBERi0xLjQK' }] }, /referenced, never sent inline/],
    [{ reason: 'wrong amount', documents: [{ zendesk_attachment_id: '12abc' }] }, /./],
  ];
  for (const [body, message] of cases) {
    const r = await post(`/api/records/${id}/dispute`, body);
    expect(r.statusCode).toBe(422);
    expect(JSON.stringify(r.json().error)).toMatch(message);
  }
  expect((await t.db('lifecycle_records').where({ id }).first()).state).toBe('confirmed');
  expect(await countRows(t.db, 'audit_events', { record_id: id, type: 'record.dispute' })).toBe(0);
});

it('refuses to resolve without an outcome, to resolve a record that is not disputed, and to dispute one that was never applied', async () => {
  const { id } = await confirmedCredit();
  expect((await post(`/api/records/${id}/resolve`, { outcome: 'upheld', reason: 'fine' }, 'supervisor')).statusCode).toBe(409);
  await post(`/api/records/${id}/dispute`, { reason: 'wrong amount' });
  const noOutcome = await post(`/api/records/${id}/resolve`, { reason: 'fine' }, 'supervisor');
  expect(noOutcome.statusCode).toBe(422);
  expect(JSON.stringify(noOutcome.json().error)).toMatch(/outcome/);
  const badOutcome = await post(`/api/records/${id}/resolve`, { reason: 'fine', outcome: 'refunded' }, 'supervisor');
  expect(badOutcome.statusCode).toBe(422);
  expect((await t.db('lifecycle_records').where({ id }).first()).state).toBe('disputed');

  const { record: pending } = await createRecord(h.deps, {
    request: buildRequest('service_credit'),
    actor: { role: 'agent', id: 'agent_1' },
    onProblems: 'reject',
  });
  expect((await post(`/api/records/${pending.id}/dispute`, { reason: 'wrong' })).statusCode).toBe(409);
});

it('resolving as reversed through the API files the reversal in the same transaction; POST /reverse files one and refuses a second', async () => {
  const { id } = await confirmedCredit();
  await post(`/api/records/${id}/dispute`, { reason: 'The customer says they never had an outage' });
  const resolved = await post(`/api/records/${id}/resolve`, { outcome: 'reversed', reason: 'Credited in error' }, 'supervisor');
  expect(resolved.statusCode).toBe(200);
  const reversal = resolved.json().reversal;
  expect(reversal).toMatchObject({ state: 'submitted', reverses_record_id: id, amount: { amount_minor: 300, currency: 'EUR' } });
  expect(await countRows(t.db, 'outbox', { key: `advance.${reversal.id}.v1` })).toBe(1);
  const second = await post(`/api/records/${id}/reverse`, { reason: 'again' });
  expect(second.statusCode).toBe(409);
  expect(second.json().error.message).toMatch(/already has a reversal/);

  // A resolution that fails (a stale version) files nothing.
  const { id: other } = await confirmedCredit();
  await post(`/api/records/${other}/dispute`, { reason: 'wrong' });
  expect((await post(`/api/records/${other}/resolve`, { outcome: 'reversed', reason: 'x', version: 1 }, 'supervisor')).statusCode).toBe(409);
  expect(await countRows(t.db, 'lifecycle_records', { reverses_record_id: other })).toBe(0);

  const filed = await post(`/api/records/${other}/reverse`, { reason: 'Credited to the wrong account' });
  expect(filed.statusCode).toBe(201);
  expect(filed.headers.location).toBe(`/api/records/${filed.json().record.id}`);
  expect(filed.json().record.requested_by).toBe('agent_1@support.example');
  expect((await post(`/api/records/${other}/reverse`, {})).statusCode).toBe(422);
});
