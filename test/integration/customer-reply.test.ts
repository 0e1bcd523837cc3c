import path from 'node:path';
import { sendCustomerEmail } from '../../src/app/send-email';
import type { EmailDeps } from '../../src/app/send-email';
import { ingestTicket } from '../../src/app/ingest-ticket';
import { loadConfig } from '../../src/config';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import { EmailTemplates } from '../../src/integrations/email/templates';
import { ZendeskClient } from '../../src/integrations/zendesk/zendesk.client';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { ZendeskStandin } from '../../devtools/zendesk.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { buildDeps, seedAccounts } from '../helpers/app';
import { downgradeRequest, ticketIntake } from '../helpers/intake';

/**
 * The customer loop: a customer's reply to a confirmation reaches the support team, either
 * because the email's Reply-To is the Zendesk support address, or because the message was
 * posted on the ticket as a public reply (Zendesk emails it and threads the answer there).
 */

let t: TestDb;
let smtp: SmtpStandin;
let zendesk: ZendeskStandin;
let replying: SmtpEmailSender;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount({ id: 'acc_loop', contacts: ['ops@loop.example', 'cfo@loop.example'] }));
  smtp = await SmtpStandin.start();
  zendesk = await ZendeskStandin.start({ email: 'bot@support.example', token: 'zd-token' });
  replying = new SmtpEmailSender({ smtpUrl: smtp.url, from: 'Acme <no-reply@acme.example>', replyTo: 'support@acme.zendesk.com' });
});
afterAll(async () => {
  replying.close();
  await smtp.close();
  await zendesk.close();
  await t.destroy();
});

const templates = EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email'));
const client = () => new ZendeskClient({ baseUrl: zendesk.apiUrl, email: 'bot@support.example', apiToken: 'zd-token' });
const deps = (over: Partial<EmailDeps> = {}): EmailDeps => ({
  ...buildDeps(t.db),
  sender: replying,
  renderer: templates,
  messageIdDomain: 'lifecycle-desk',
  ...over,
});

async function recordFor(ticket: number, requester: string): Promise<string> {
  zendesk.addTicket({ id: ticket });
  const o = await ingestTicket(buildDeps(t.db), ticketIntake(String(ticket), `k-${ticket}`, downgradeRequest('acc_loop', { requester: { email: requester } })));
  return o.record!.id;
}
const mailOf = (id: string) => smtp.messages.filter((m) => m.parsed.messageId === `<${id}.scheduled@lifecycle-desk>`);
const putsTo = (ticket: number) => zendesk.requests.filter((r) => r.method === 'PUT' && r.path === `/api/v2/tickets/${ticket}.json`);

describe('EMAIL_CHANNEL=smtp (the default)', () => {
  it('the email says Reply-To: the Zendesk support address, From stays the sender', async () => {
    const id = await recordFor(7701, 'ops@loop.example');
    expect(await sendCustomerEmail(deps(), id, 'scheduled')).toBe('sent');
    const [mail] = mailOf(id);
    expect(mail!.parsed.replyTo).toEqual([{ address: 'support@acme.zendesk.com', name: '' }]);
    expect(mail!.parsed.from).toEqual({ address: 'no-reply@acme.example', name: 'Acme' });
    expect(putsTo(7701)).toHaveLength(0);
  });

  it('Reply-To defaults to support@<ZENDESK_SUBDOMAIN>.zendesk.com; EMAIL_REPLY_TO overrides it and must be an address', () => {
    expect(loadConfig({ ZENDESK_SUBDOMAIN: 'acme' }).email.replyTo).toBe('support@acme.zendesk.com');
    expect(loadConfig({ ZENDESK_SUBDOMAIN: 'acme', EMAIL_REPLY_TO: 'help@acme.example' }).email.replyTo).toBe('help@acme.example');
    expect(loadConfig({}).email.replyTo).toBeUndefined();
    expect(loadConfig({}).email.channel).toBe('smtp');
    expect(() => loadConfig({ EMAIL_REPLY_TO: 'not an address' })).toThrow(/EMAIL_REPLY_TO: expected an email address/);
    expect(() => loadConfig({ EMAIL_CHANNEL: 'fax' })).toThrow(/EMAIL_CHANNEL/);
  });
});

describe('EMAIL_CHANNEL=zendesk_comment', () => {
  it('posts the message as one public comment on the ticket (no status, no tags) and emails nothing; a retry posts nothing more', async () => {
    const id = await recordFor(7702, 'cfo@loop.example');
    const d = deps({ publicReplies: client() });
    expect(await sendCustomerEmail(d, id, 'scheduled')).toBe('sent');
    expect(await sendCustomerEmail(d, id, 'scheduled')).toBe('already_sent');
    const puts = putsTo(7702);
    expect(puts).toHaveLength(1);
    expect(puts[0]!.status).toBe(200);
    const body = puts[0]!.body as { ticket: { comment: { body: string; public: boolean } } };
    expect(Object.keys(body.ticket)).toEqual(['comment']);
    expect(body.ticket.comment.public).toBe(true);
    expect(body.ticket.comment.body).toContain('Ticket #7702');
    expect(zendesk.tickets.get(7702)!.comments.filter((c) => c.public)).toHaveLength(1);
    expect(mailOf(id)).toHaveLength(0);
    const sentRow = await t
      .db('email_deliveries')
      .where({ key: `email.${id}.scheduled` })
      .first();
    expect(sentRow.status).toBe('sent');
    expect(sentRow.smtp_response).toBe('zendesk public comment on ticket 7702');
  });

  it('emails the contacts instead when the ticket was opened by someone who is not a contact: Zendesk would send it to them', async () => {
    const id = await recordFor(7703, 'stranger@elsewhere.example');
    expect(await sendCustomerEmail(deps({ publicReplies: client() }), id, 'scheduled')).toBe('sent');
    expect(putsTo(7703)).toHaveLength(0);
    expect([...mailOf(id)[0]!.envelope.to].sort()).toEqual(['cfo@loop.example', 'ops@loop.example']);
  });

  it('a comment Zendesk cannot take now (429) is released for the job to retry, then posted once', async () => {
    const id = await recordFor(7704, 'ops@loop.example');
    const impatient = new ZendeskClient({ baseUrl: zendesk.apiUrl, email: 'bot@support.example', apiToken: 'zd-token', maxAttempts: 1 });
    zendesk.failNext({ status: 429, retryAfter: 1 });
    await expect(sendCustomerEmail(deps({ publicReplies: impatient }), id, 'scheduled')).rejects.toMatchObject({ options: { retryable: true } });
    expect(
      (
        await t
          .db('email_deliveries')
          .where({ key: `email.${id}.scheduled` })
          .first()
      ).status,
    ).toBe('pending');
    expect(await sendCustomerEmail(deps({ publicReplies: impatient }), id, 'scheduled')).toBe('sent');
    expect(zendesk.tickets.get(7704)!.comments.filter((c) => c.public)).toHaveLength(1);
  });
});
