import nodemailer from 'nodemailer';
import type { NodemailerError, SMTPSentMessageInfo, Transporter } from 'nodemailer';
import SMTPPool from 'nodemailer/lib/smtp-pool';
import { AppError } from '../../records/errors';
import type { EmailSender, OutgoingEmail } from '../../records/ports';

export interface SmtpSenderOptions {
  /**
   * `smtp://user:pass@host:587` (STARTTLS when the server offers it) or `smtps://user:pass@host:465`.
   * Query parameters override the options below, e.g. `?connectionTimeout=5000`.
   */
  readonly smtpUrl: string;
  /** The From header and envelope sender, e.g. `"Acme Support" <support@acme.example>`. */
  readonly from: string;
  /**
   * The Reply-To header (EMAIL_REPLY_TO): the Zendesk support address, so a customer's reply
   * reaches the support team instead of the no-reply sender. Omitted when unset.
   */
  readonly replyTo?: string | undefined;
  /**
   * Limit in ms for connecting, DNS and the server greeting; idle waits on an open connection
   * get four times as long, because some relays scan the message before answering DATA.
   * Default 15 000. A job must fail and retry rather than hang on a dead relay.
   */
  readonly timeoutMs?: number;
}

export interface SmtpMessage extends OutgoingEmail {
  /** Extra headers, e.g. `X-Lifecycle-Record`; they override the defaults below. */
  readonly headers?: Readonly<Record<string, string>>;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * RFC 3834: an automatic message. Out-of-office responders do not answer it, so a customer's
 * vacation reply does not bounce back into the support queue.
 */
const DEFAULT_HEADERS: Readonly<Record<string, string>> = { 'Auto-Submitted': 'auto-generated' };

/** Nodemailer codes for failures of the connection itself rather than of the message. */
const CONNECTION_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ETLS', 'EPROXY', 'EPROTOCOL']);
/** Failures that fail the same way until someone fixes configuration or the message. */
const PERMANENT_CODES = new Set([
  'EAUTH',
  'ENOAUTH',
  'EOAUTH2',
  'ECONFIG',
  'EENVELOPE',
  'EMESSAGE',
  'EREQUIRETLS',
  'EMAXRECIPIENTS',
  'EFILEACCESS',
  'EURLACCESS',
  'ESTREAM',
]);

/**
 * Whether sending the same message again later may succeed. An SMTP reply decides when there is
 * one (RFC 5321: 4yz transient, 5yz permanent, except 503 "bad sequence", which a fresh
 * connection clears); otherwise connection problems and timeouts are transient, configuration
 * and message problems are not, and anything unknown is retried (retries are bounded).
 */
export function isRetryableSmtpError(err: Pick<NodemailerError, 'code' | 'responseCode' | 'permanent'>): boolean {
  if (typeof err.responseCode === 'number' && err.responseCode >= 400) {
    if (typeof err.permanent === 'boolean') return !err.permanent;
    return !(err.responseCode >= 500 && err.responseCode !== 503);
  }
  if (err.code && CONNECTION_CODES.has(err.code)) return true;
  if (err.code && PERMANENT_CODES.has(err.code)) return false;
  return true;
}

const ADDRESS = /[^\s<>()[\]"',;:]+@[^\s<>()[\]"',;:]+/g;
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Removes the recipient (and any other address) from text bound for logs, alerts and the audit trail. */
function scrub(text: string, recipient: string): string {
  const out = recipient ? text.replace(new RegExp(escapeRegExp(recipient), 'gi'), '[recipient]') : text;
  return out.replace(ADDRESS, '[address]').replace(/\s+/g, ' ').trim().slice(0, 300);
}

function describe(e: NodemailerError): string {
  if (typeof e.responseCode === 'number') return `the SMTP server answered ${e.responseCode}${e.command ? ` to ${e.command}` : ''}`;
  if (e.code === 'ETIMEDOUT') return `the SMTP server did not answer in time${e.timeoutType ? ` (${e.timeoutType.toLowerCase().replace(/_/g, ' ')})` : ''}`;
  if (e.code === 'ECONNECTION' || e.code === 'ESOCKET' || e.code === 'EDNS') {
    return `could not talk to the SMTP server${e.originalCode ? ` (${e.originalCode})` : ''}`;
  }
  return e.code ? `SMTP error ${e.code}` : 'SMTP error';
}

/**
 * Maps a nodemailer failure to AppError('provider_failed', …, { retryable }). The message and the
 * attached cause carry the SMTP code, command and reply but never the recipient's address: they
 * end up in logs, Slack alerts and the audit trail.
 */
export function smtpFailure(err: unknown, recipient: string): AppError {
  // Duck-typed, not `instanceof Error`: socket errors come from Node's own realm, which differs
  // from the caller's under test runners that sandbox modules.
  const e: NodemailerError =
    typeof err === 'object' && err !== null && typeof (err as Error).message === 'string' ? (err as NodemailerError) : new Error(String(err));
  const retryable = isRetryableSmtpError(e);
  const reply = scrub(e.message, recipient);
  const advice = retryable
    ? 'will be retried'
    : typeof e.responseCode === 'number'
      ? 'permanent rejection, not retried; check the recipient address or the message with the mail provider'
      : 'not retried; check SMTP_URL, EMAIL_FROM and the mail server settings';
  const cause = Object.assign(new Error(reply), { name: 'SmtpError', code: e.code, responseCode: e.responseCode, command: e.command });
  return new AppError('provider_failed', `Email not sent: ${describe(e)}: ${reply} (${advice})`, {
    cause,
    retryable,
    details: { smtp_code: e.code ?? null, smtp_response_code: e.responseCode ?? null, smtp_command: e.command ?? null },
  });
}

/**
 * Customer email over SMTP with nodemailer, over a small pool of kept-open connections: opening
 * one per message (TCP, greeting, EHLO, STARTTLS, AUTH, and often a reverse DNS lookup by the
 * server) cost seven times the sending in our measurements. A connection the server or a relay
 * drops is replaced; a message caught on it fails, and its job retries it with the same
 * Message-ID. The caller's deterministic Message-ID is used as is, so a duplicate sent after a
 * crash is recognisable downstream.
 */
export class SmtpEmailSender implements EmailSender {
  private readonly transport: Transporter<SMTPSentMessageInfo>;
  private readonly from: string;
  private readonly replyTo: string | undefined;

  constructor(opts: SmtpSenderOptions) {
    const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.from = opts.from;
    this.replyTo = opts.replyTo;
    // The pool transport class itself, not createTransport(url), so SMTP_URL cannot switch pooling
    // off; nodemailer still reads connection options from its query string (e.g. ?maxConnections=2).
    this.transport = nodemailer.createTransport(
      new SMTPPool({
        url: opts.smtpUrl,
        maxConnections: 5,
        // Rotate connections now and then, so a long-lived one never outlasts a server's limits.
        maxMessages: 100,
        connectionTimeout: timeout,
        greetingTimeout: timeout,
        dnsTimeout: timeout,
        socketTimeout: timeout * 4,
        logger: false,
        // Messages are rendered text; nothing in them may make nodemailer read a file or fetch a URL.
        disableFileAccess: true,
        disableUrlAccess: true,
      }),
    );
  }

  async send(msg: SmtpMessage): Promise<{ messageId: string; response: string }> {
    const messageId = /^<.*>$/.test(msg.messageId) ? msg.messageId : `<${msg.messageId}>`;
    try {
      const info = await this.transport.sendMail({
        from: this.from,
        ...(this.replyTo ? { replyTo: this.replyTo } : {}),
        to: msg.to,
        subject: msg.subject,
        text: msg.text,
        html: msg.html,
        messageId,
        headers: { ...DEFAULT_HEADERS, ...msg.headers },
      });
      return { messageId: info.messageId || messageId, response: info.response };
    } catch (err) {
      throw smtpFailure(err, msg.to);
    }
  }

  close(): void {
    this.transport.close();
  }
}
