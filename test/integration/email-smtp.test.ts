import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { freePort } from '../helpers/net';
import path from 'node:path';
import { SmtpEmailSender, isRetryableSmtpError } from '../../src/integrations/email/smtp.sender';
import type { SmtpMessage } from '../../src/integrations/email/smtp.sender';
import { EmailTemplates } from '../../src/integrations/email/templates';
import { AppError } from '../../src/records/errors';
import type { LifecycleRecord } from '../../src/records/kinds';
import { SmtpStandin } from '../../devtools/smtp.standin';

const TEMPLATES = path.resolve(__dirname, '..', '..', 'templates', 'email');
const TO = 'jane.doe@customer.example';
const FROM = 'support@lifecycle.example';

function creditRecord(overrides: Partial<LifecycleRecord> = {}): LifecycleRecord {
  return {
    id: 'rec_7f3a',
    kind: 'service_credit',
    subtype: 'outage',
    account_id: 'acc_jp',
    ticket_id: '4711',
    requested_by: 'agent@support.example',
    requester: { email: TO, name: 'Jane Doe' },
    reason_code: 'outage',
    reason_text: '',
    effective: 'immediate',
    effective_at: '2026-03-16T12:00:00Z',
    state: 'applied',
    version: 5,
    details: { period_start: '2026-03-10T00:00:00Z', period_end: '2026-03-11T00:00:00Z', requested_credit: { amount_minor: 1500, currency: 'JPY' } },
    amount: { amount_minor: -1500, currency: 'JPY' },
    risk_flags: [],
    problems: [],
    created_at: '2026-03-16T12:00:00Z',
    updated_at: '2026-03-16T12:00:00Z',
    ...overrides,
  };
}

/** Sends an email rendered from the shipped templates, as the email job does. */
function renderedMessage(templates: EmailTemplates, overrides: Partial<SmtpMessage> = {}): SmtpMessage {
  const record = creditRecord();
  const rendered = templates.render('credit_granted', {
    record,
    account: { id: 'acc_jp', name: 'Sakura <Trading> & Co', currency: 'JPY' },
    ticketId: record.ticket_id,
    // What the billing provider confirmed: the only money an email states.
    billing: [
      {
        idempotency_key: `billing.${record.id}.apply`,
        step: 'apply',
        effect: {
          type: 'credit',
          amount: { amount_minor: 1500, currency: 'JPY' },
          period_start: '2026-03-10T00:00:00Z',
          period_end: '2026-03-11T00:00:00Z',
          paid_invoice: 'credit',
        },
        result: {
          providerRef: 'ledger:x',
          money: [{ type: 'credit', purpose: 'service_credit', amount: { amount_minor: 1500, currency: 'JPY' }, destination: 'balance' }],
        },
      },
    ],
  });
  return { to: TO, messageId: `<${record.id}.credit_granted@lifecycle-desk>`, ...rendered, ...overrides };
}

async function failureOf(promise: Promise<unknown>): Promise<AppError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('SmtpEmailSender → a real SMTP server', () => {
  let smtp: SmtpStandin;
  let sender: SmtpEmailSender;
  let templates: EmailTemplates;

  beforeAll(async () => {
    templates = EmailTemplates.load(TEMPLATES);
    smtp = await SmtpStandin.start();
    sender = new SmtpEmailSender({ smtpUrl: smtp.url, from: `"Lifecycle Support" <${FROM}>`, timeoutMs: 2000 });
  });

  afterAll(async () => {
    sender.close();
    await smtp.close();
  });

  it('delivers one multipart message with both parts, the amounts and the deterministic Message-ID', async () => {
    const msg = renderedMessage(templates, { headers: { 'X-Lifecycle-Record': 'rec_7f3a' } });
    const before = smtp.messages.length;

    const result = await sender.send(msg);

    await smtp.waitFor(before + 1);
    const received = smtp.messages[before]!;
    expect(result.messageId).toBe('<rec_7f3a.credit_granted@lifecycle-desk>');
    expect(result.response).toMatch(/^250 /);

    expect(received.envelope).toEqual({ from: FROM, to: [TO] });
    const { parsed } = received;
    expect(parsed.from).toEqual({ name: 'Lifecycle Support', address: FROM });
    expect(parsed.to).toEqual([{ name: '', address: TO }]);
    expect(parsed.messageId).toBe('<rec_7f3a.credit_granted@lifecycle-desk>');
    expect(parsed.subject).toBe('A credit of ¥1,500 has been applied to your account (Ticket #4711)');
    expect(parsed.subject).toBe(msg.subject);

    expect(received.raw).toMatch(/Content-Type: multipart\/alternative/i);
    expect(received.raw).toMatch(/Content-Type: text\/plain; charset=utf-8/i);
    expect(received.raw).toMatch(/Content-Type: text\/html; charset=utf-8/i);
    expect(parsed.text).toContain('We have applied a credit of ¥1,500 to your account Sakura <Trading> & Co.');
    expect(parsed.text).toContain('10 March 2026');
    expect(parsed.html).toContain('a credit of <strong>¥1,500</strong>');
    expect(parsed.html).toContain('Sakura &lt;Trading&gt; &amp; Co');
    expect(parsed.html).not.toContain('<Trading>');

    const header = (key: string) => parsed.headers.find((h) => h.key === key)?.value;
    expect(header('auto-submitted')).toBe('auto-generated');
    expect(header('x-lifecycle-record')).toBe('rec_7f3a');
  });

  it('maps a 451 at RCPT TO to a retryable provider_failed without the address, and the retry goes through', async () => {
    smtp.rejectNext(451, `4.7.1 <${TO}>: greylisted, try again later`);
    const before = smtp.messages.length;

    const err = await failureOf(sender.send(renderedMessage(templates)));

    expect(err.code).toBe('provider_failed');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('451');
    expect(err.message).toContain('RCPT TO');
    expect(err.message).not.toContain(TO);
    expect(JSON.stringify(err.options.details)).not.toContain(TO);
    expect((err.options.cause as Error).message).not.toContain(TO);
    expect(smtp.messages).toHaveLength(before);

    await sender.send(renderedMessage(templates));
    expect(smtp.messages).toHaveLength(before + 1);
  });

  it('maps a 451 after DATA to a retryable failure', async () => {
    smtp.rejectNext(451, '4.3.0 Temporary local problem', 1, 'data');
    const err = await failureOf(sender.send(renderedMessage(templates)));
    expect(err).toMatchObject({ code: 'provider_failed', retryable: true });
    expect(err.message).toMatch(/451 to DATA/);
  });

  it.each([
    [550, `5.1.1 <${TO}>: Recipient address rejected: mailbox unavailable`],
    [553, '5.1.3 mailbox name not allowed'],
  ])('maps a %i at RCPT TO to a non-retryable failure without the address', async (code, reply) => {
    smtp.rejectNext(code, reply);
    const err = await failureOf(sender.send(renderedMessage(templates)));
    expect(err).toMatchObject({ code: 'provider_failed', retryable: false });
    expect(err.message).toContain(String(code));
    expect(err.message).toContain('permanent rejection');
    expect(err.message).not.toContain(TO);
    expect(err.message).not.toContain('jane.doe');
  });

  it('maps a 554 after DATA to a non-retryable failure', async () => {
    smtp.rejectNext(554, '5.7.1 Message rejected as spam', 1, 'data');
    const err = await failureOf(sender.send(renderedMessage(templates)));
    expect(err).toMatchObject({ code: 'provider_failed', retryable: false });
  });

  it('reuses connections across messages and replaces one the server dropped', async () => {
    const opened = smtp.connections;
    const before = smtp.messages.length;
    for (let i = 0; i < 6; i++) await sender.send(renderedMessage(templates, { messageId: `<reuse-${i}@lifecycle-desk>` }));
    expect(smtp.messages.length - before).toBe(6);
    expect(smtp.connections - opened).toBeLessThanOrEqual(1);

    smtp.dropConnections();
    await new Promise((r) => setTimeout(r, 100));
    await sender.send(renderedMessage(templates, { messageId: '<after-drop@lifecycle-desk>' }));
    expect(smtp.messages.at(-1)!.parsed.messageId).toBe('<after-drop@lifecycle-desk>');
    expect(smtp.connections - opened).toBeLessThanOrEqual(2);
  });

  it('maps connection refused to a retryable failure', async () => {
    const port = await freePort();
    const nowhere = new SmtpEmailSender({ smtpUrl: `smtp://127.0.0.1:${port}`, from: FROM, timeoutMs: 2000 });
    try {
      const err = await failureOf(nowhere.send(renderedMessage(templates)));
      expect(err).toMatchObject({ code: 'provider_failed', retryable: true });
      expect(err.message).toMatch(/could not talk to the SMTP server \(ECONNREFUSED\)/);
      expect(['ECONNECTION', 'ESOCKET']).toContain(err.options.details?.smtp_code);
      expect(err.message).not.toContain(TO);
    } finally {
      nowhere.close();
    }
  });

  it('maps a server that never greets to a retryable timeout instead of hanging', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const slow = new SmtpEmailSender({ smtpUrl: `smtp://127.0.0.1:${port}`, from: FROM, timeoutMs: 300 });
    try {
      const started = Date.now();
      const err = await failureOf(slow.send(renderedMessage(templates)));
      expect(err).toMatchObject({ code: 'provider_failed', retryable: true });
      expect(err.message).toMatch(/did not answer in time/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      slow.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});

describe('which SMTP failures are retryable', () => {
  it.each([
    [{ responseCode: 421, code: 'ECONNECTION' }, true],
    [{ responseCode: 450, code: 'EENVELOPE' }, true],
    [{ responseCode: 452, code: 'EENVELOPE' }, true],
    [{ responseCode: 454, code: 'EAUTH' }, true],
    [{ responseCode: 503, code: 'EENVELOPE' }, true],
    [{ responseCode: 535, code: 'EAUTH' }, false],
    [{ responseCode: 550, code: 'EENVELOPE' }, false],
    [{ responseCode: 552, code: 'EMESSAGE' }, false],
    [{ responseCode: 554, code: 'EMESSAGE', permanent: true }, false],
    [{ code: 'ETIMEDOUT' }, true],
    [{ code: 'ECONNECTION' }, true],
    [{ code: 'ESOCKET' }, true],
    [{ code: 'EDNS' }, true],
    [{ code: 'EAUTH' }, false],
    [{ code: 'EENVELOPE' }, false],
    [{ code: 'ECONFIG' }, false],
  ])('%j → retryable %s', (err, expected) => {
    expect(isRetryableSmtpError(err)).toBe(expected);
  });
});
