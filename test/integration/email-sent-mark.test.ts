import path from 'node:path';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { sendCustomerEmail } from '../../src/app/send-email';
import type { EmailDeps } from '../../src/app/send-email';
import { EmailTemplates } from '../../src/integrations/email/templates';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';

/**
 * Once the SMTP server has said 250, the email is out; the "sent" mark must then land however
 * long PostgreSQL takes to come back, in the same process, or the lease expires and the customer
 * gets the email twice.
 */

let t: TestDb;
let smtp: SmtpStandin;
let sender: SmtpEmailSender;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount({ contacts: ['ops@acme.example'] }));
  smtp = await SmtpStandin.start();
  sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'support@lifecycle.example', timeoutMs: 2000 });
});
afterAll(async () => {
  sender.close();
  await smtp.close();
  await t.destroy();
});

async function rejectedRecord(): Promise<string> {
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, { request: buildRequest('service_credit'), actor: { role: 'agent', id: 'agent-1' }, onProblems: 'reject' });
  await transitionRecord(deps, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } });
  await transitionRecord(deps, { recordId: record.id, event: 'reject', actor: { role: 'supervisor', id: 'U1' }, reason: 'no outage that day' });
  return record.id;
}

it('keeps marking a sent email until PostgreSQL takes the mark, never giving the job up, and never sends twice', async () => {
  const id = await rejectedRecord();
  // PostgreSQL refuses the mark as a shutting-down server would, for about a second.
  await t.admin.raw(`
    CREATE FUNCTION refuse_sent_mark() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'sent' THEN RAISE EXCEPTION 'terminating connection due to administrator command' USING ERRCODE = '57P01'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_sent_mark BEFORE UPDATE ON email_deliveries FOR EACH ROW EXECUTE FUNCTION refuse_sent_mark();`);
  const failures: number[] = [];
  const deps: EmailDeps = {
    ...buildDeps(t.db),
    sender,
    renderer: EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email')),
    messageIdDomain: 'lifecycle-desk',
    sendLeaseMs: 60_000,
    markRetryDelayMs: () => 50,
    onMarkRetry: (_err, attempt) => failures.push(attempt),
  };
  const before = smtp.messages.length;
  const sending = sendCustomerEmail(deps, id, 'rejected');
  await new Promise((r) => setTimeout(r, 1000));
  await t.admin.raw('DROP TRIGGER refuse_sent_mark ON email_deliveries; DROP FUNCTION refuse_sent_mark()');
  expect(await sending).toBe('sent');
  expect(failures.length).toBeGreaterThan(3);
  expect(smtp.messages.length - before).toBe(1);
  expect(await t.db('email_deliveries').where({ record_id: id }).first()).toMatchObject({ status: 'sent' });
  // The job running again (a redelivery) finds it sent.
  expect(await sendCustomerEmail(deps, id, 'rejected')).toBe('already_sent');
  expect(smtp.messages.filter((m) => m.parsed.messageId === `<${id}.rejected@lifecycle-desk>`)).toHaveLength(1);
});
