import path from 'node:path';
import { sendCustomerEmail } from '../../src/app/send-email';
import { ingestTicket } from '../../src/app/ingest-ticket';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { EmailTemplates } from '../../src/integrations/email/templates';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';
import { downgradeRequest, ticketIntake } from '../helpers/intake';

let t: TestDb;
let smtp: SmtpStandin;
let sender: SmtpEmailSender;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount({ id: 'acc_two', contacts: ['ops@acme.example', 'cfo@acme.example'] }), buildAccount({ id: 'acc_none', contacts: [] }));
  smtp = await SmtpStandin.start();
  sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'support@lifecycle.example' });
});
afterAll(async () => {
  sender.close();
  await smtp.close();
  await t.destroy();
});

const emailDeps = () => ({
  ...buildDeps(t.db),
  sender,
  renderer: EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email')),
  messageIdDomain: 'lifecycle-desk',
});

async function recordFor(ticket: string, account: string, requester: string): Promise<string> {
  const o = await ingestTicket(buildDeps(t.db), ticketIntake(ticket, `k-${ticket}`, downgradeRequest(account, { requester: { email: requester } })));
  return o.record!.id;
}

it("emails the account's contacts, not a requester who is not one of them", async () => {
  const id = await recordFor('8801', 'acc_two', 'stranger@elsewhere.example');
  expect(await sendCustomerEmail(emailDeps(), id, 'scheduled')).toBe('sent');
  const mail = smtp.messages.find((m) => m.parsed.messageId === `<${id}.scheduled@lifecycle-desk>`)!;
  expect([...mail.envelope.to].sort()).toEqual(['cfo@acme.example', 'ops@acme.example']);
  expect(mail.raw).not.toContain('stranger@elsewhere.example');
});

it('a requester who is a contact is among the recipients, with the other contacts', async () => {
  const id = await recordFor('8802', 'acc_two', 'cfo@acme.example');
  await sendCustomerEmail(emailDeps(), id, 'scheduled');
  const mail = smtp.messages.find((m) => m.parsed.messageId === `<${id}.scheduled@lifecycle-desk>`)!;
  expect([...mail.envelope.to].sort()).toEqual(['cfo@acme.example', 'ops@acme.example']);
});

it('sends nothing, and says so in the audit trail, when the account has no contact (the requester alone is not enough)', async () => {
  const id = await recordFor('8803', 'acc_none', 'someone@acme.example');
  expect(await sendCustomerEmail(emailDeps(), id, 'scheduled')).toBe('skipped_no_recipient');
  expect(smtp.messages.some((m) => m.parsed.messageId === `<${id}.scheduled@lifecycle-desk>`)).toBe(false);
  expect((await t.db('audit_events').where({ record_id: id, type: 'email.skipped' }).first()).data.reason).toBe('the account has no contact');
});
