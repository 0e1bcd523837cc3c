import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { AppError } from '../../records/errors';
import type { EmailSender, OutgoingEmail } from '../../records/ports';

/** SMTP reply codes and connection errors that are worth another try later. */
function retryable(err: { responseCode?: number; code?: string }): boolean {
  if (typeof err.responseCode === 'number') return err.responseCode < 500;
  return ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'ECONNREFUSED', 'ECONNRESET', 'EDNS', 'EPROTOCOL', 'ETLS'].includes(err.code ?? '') || !err.code;
}

/**
 * Customer email over SMTP (nodemailer). The Message-ID is the caller's deterministic one, so a
 * duplicate could be recognised downstream. Failures become AppError('provider_failed') with
 * `retryable`: 4xx replies and connection problems are retried, 5xx rejections are not.
 * Messages never include the recipient's address.
 */
export class SmtpEmailSender implements EmailSender {
  private readonly transport: Transporter;

  constructor(private readonly opts: { smtpUrl: string; from: string; timeoutMs?: number }) {
    const t = opts.timeoutMs ?? 10_000;
    this.transport = nodemailer.createTransport(opts.smtpUrl, { connectionTimeout: t, greetingTimeout: t, socketTimeout: t * 3 } as never);
  }

  async send(m: OutgoingEmail): Promise<{ messageId: string; response: string }> {
    try {
      const info = await this.transport.sendMail({ from: this.opts.from, to: m.to, subject: m.subject, text: m.text, html: m.html, messageId: m.messageId });
      return { messageId: info.messageId ?? m.messageId, response: String(info.response ?? '') };
    } catch (err) {
      const e = err as { responseCode?: number; code?: string; response?: string; message: string };
      const what = e.responseCode ? `SMTP ${e.responseCode}` : (e.code ?? 'error');
      const detail = (e.response ?? e.message).replace(/[^\s<>]+@[^\s<>]+/g, '[email]').slice(0, 200);
      throw new AppError('provider_failed', `email not sent (${what}): ${detail}`, { cause: err, retryable: retryable(e) });
    }
  }

  close(): void {
    this.transport.close();
  }
}
