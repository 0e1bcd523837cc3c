import path from 'node:path';
import { createRecord } from '../../src/app/create-record';
import { transitionRecord } from '../../src/app/transition-record';
import { sendCustomerEmail } from '../../src/app/send-email';
import type { EmailDeps } from '../../src/app/send-email';
import type { EmailOutcome } from '../../src/app/record-events';
import { EmailTemplates } from '../../src/integrations/email/templates';
import { SmtpEmailSender } from '../../src/integrations/email/smtp.sender';
import type { EmailSender, OutgoingEmail, TransactionRunner } from '../../src/records/ports';
import { SmtpStandin } from '../../devtools/smtp.standin';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount, buildRequest } from '../helpers/builders';
import { buildDeps, countRows, seedAccounts } from '../helpers/app';

/**
 * `cancelled` and `rejected` each send the customer exactly one email: once from the outbox row
 * the transition writes, and still once when the email worker dies part-way (before the server
 * has the message, or after the "sent" mark but before the rest of the job).
 */

let t: TestDb;
let smtp: SmtpStandin;
let sender: SmtpEmailSender;
const templates = EmailTemplates.load(path.resolve(__dirname, '..', '..', 'templates', 'email'), { strictVariables: true });
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

const emailDeps = (over: Partial<EmailDeps> = {}): EmailDeps => ({
  ...buildDeps(t.db),
  sender,
  renderer: templates,
  messageIdDomain: 'lifecycle-desk',
  ...over,
});
const received = (id: string, outcome: EmailOutcome) => smtp.messages.filter((m) => m.parsed.messageId === `<${id}.${outcome}@lifecycle-desk>`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pendingRecord(): Promise<string> {
  const deps = buildDeps(t.db);
  const { record } = await createRecord(deps, { request: buildRequest('service_credit'), actor: { role: 'agent', id: 'agent-1' }, onProblems: 'reject' });
  await transitionRecord(deps, { recordId: record.id, event: 'request_approval', actor: { role: 'system', id: 'policy' } });
  return record.id;
}

async function outcomeRecord(outcome: 'cancelled' | 'rejected'): Promise<string> {
  const id = await pendingRecord();
  await transitionRecord(buildDeps(t.db), {
    recordId: id,
    event: outcome === 'cancelled' ? 'cancel' : 'reject',
    actor: outcome === 'cancelled' ? { role: 'agent', id: 'agent-1' } : { role: 'supervisor', id: 'U0LDSUP01' },
    reason: outcome === 'cancelled' ? 'the customer found the invoice' : 'no outage that day',
  });
  return id;
}

const emailRows = (id: string) => t.db('outbox').where({ topic: 'email.send' }).andWhereRaw(`payload->>'record_id' = ?`, [id]).select('key');

describe('one email per outcome', () => {
  it('a request withdrawn while waiting for approval queues one cancelled email, which names the reason', async () => {
    const id = await outcomeRecord('cancelled');
    expect((await emailRows(id)).map((r) => r.key)).toEqual([`email.${id}.cancelled`]);
    expect(await sendCustomerEmail(emailDeps(), id, 'cancelled')).toBe('sent');
    expect(await sendCustomerEmail(emailDeps(), id, 'cancelled')).toBe('already_sent');
    const [mail, ...more] = received(id, 'cancelled');
    expect(more).toHaveLength(0);
    expect(mail!.parsed.subject).toMatch(/request has been withdrawn/);
    expect(mail!.parsed.text).toContain('The reason: the customer found the invoice');
    expect(mail!.parsed.text).not.toContain('As you asked');
    expect(await countRows(t.db, 'audit_events', { record_id: id, type: 'email.sent' })).toBe(1);
  });

  it('a customer who withdrew the request is told it was done as they asked', async () => {
    const id = await pendingRecord();
    await transitionRecord(buildDeps(t.db), { recordId: id, event: 'cancel', actor: { role: 'customer', id: 'account:acc_acme' } });
    await sendCustomerEmail(emailDeps(), id, 'cancelled');
    expect(received(id, 'cancelled')[0]!.parsed.text).toContain('As you asked, we have withdrawn your request');
  });

  it('a draft the agent throws away never reached the customer and sends nothing', async () => {
    const deps = buildDeps(t.db);
    const { record } = await createRecord(deps, {
      request: buildRequest('service_credit', { account_id: 'acc_missing' }),
      actor: { role: 'agent', id: 'agent-1' },
      onProblems: 'draft',
    });
    expect(record.state).toBe('draft');
    await transitionRecord(deps, { recordId: record.id, event: 'cancel', actor: { role: 'agent', id: 'agent-1' } });
    expect(await emailRows(record.id)).toEqual([]);
  });

  it('a rejection queues one rejected email', async () => {
    const id = await outcomeRecord('rejected');
    expect((await emailRows(id)).map((r) => r.key)).toEqual([`email.${id}.rejected`]);
  });
});

describe.each(['cancelled', 'rejected'] as const)('the %s email after a crash of the email worker', (outcome) => {
  it('a worker killed mid-send (before the server accepted the message): the next worker sends it, once', async () => {
    const id = await outcomeRecord(outcome);
    // The first worker's SMTP conversation never ends: the process died with it.
    let release!: (err: Error) => void;
    const dying: EmailSender = { send: () => new Promise((_, reject) => (release = reject)) };
    const first = sendCustomerEmail(emailDeps({ sender: dying, sendLeaseMs: 200 }), id, outcome).catch(() => 'died');
    await sleep(100);
    // While the dead worker's lease runs, nobody else sends.
    await expect(sendCustomerEmail(emailDeps({ sendLeaseMs: 200 }), id, outcome)).rejects.toThrow(/being sent by another worker/);
    await sleep(250);
    expect(await sendCustomerEmail(emailDeps({ sendLeaseMs: 200 }), id, outcome)).toBe('sent');
    release(new Error('SIGKILL'));
    expect(await first).toBe('died');
    expect(received(id, outcome)).toHaveLength(1);
    expect(
      await t
        .db('email_deliveries')
        .where({ key: `email.${id}.${outcome}` })
        .first('status'),
    ).toEqual({ status: 'sent' });
  });

  it('a worker that died after the sent mark: the retried job sends nothing and audits the email once', async () => {
    const id = await outcomeRecord(outcome);
    const store = buildDeps(t.db).store;
    let n = 0;
    // Prepare, mark sent, then the process dies before the job's last transaction.
    const dies: TransactionRunner = { transaction: (work) => (++n === 3 ? Promise.reject(new Error('worker killed')) : store.transaction(work)) };
    const counting: EmailSender = { send: (m: OutgoingEmail) => sender.send(m) };
    await expect(sendCustomerEmail(emailDeps({ store: dies, sender: counting }), id, outcome)).rejects.toThrow('worker killed');
    expect(await countRows(t.db, 'audit_events', { record_id: id, type: 'email.sent' })).toBe(0);
    expect(await sendCustomerEmail(emailDeps(), id, outcome)).toBe('already_sent');
    expect(await sendCustomerEmail(emailDeps(), id, outcome)).toBe('already_sent');
    expect(received(id, outcome)).toHaveLength(1);
    expect(await countRows(t.db, 'audit_events', { record_id: id, type: 'email.sent' })).toBe(1);
  });
});
