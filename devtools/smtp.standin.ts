import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import PostalMime from 'postal-mime';
import type { Email } from 'postal-mime';

export interface ReceivedEmail {
  /** When the server accepted it (ms since epoch). */
  readonly receivedAt: number;
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  /** The message exactly as it arrived after DATA (headers and MIME body). */
  readonly raw: string;
  readonly parsed: Email;
}

/** Where a scripted refusal answers: to RCPT TO (like "550 mailbox unavailable") or after DATA. */
export type RejectAt = 'rcpt' | 'data';

interface Rejection {
  readonly code: number;
  readonly message: string;
  readonly at: RejectAt;
  remaining: number;
}

/** Largest message accepted; larger ones get 552 as a real relay would answer. */
const SIZE_LIMIT = 10 * 1024 * 1024;

const smtpError = (code: number, message: string): Error => Object.assign(new Error(message), { responseCode: code });

/**
 * A real SMTP server (the `smtp-server` package) for the tests and `lifecycle-desk demo`: plain
 * text on 127.0.0.1 (no STARTTLS, no AUTH), a 10 MB size limit. Every accepted message is parsed
 * with postal-mime before the 250, so a sender that got its 250 finds the message in `messages`.
 * `rejectNext` scripts refusals; `dropConnections` hangs up on clients.
 */
export class SmtpStandin {
  readonly messages: ReceivedEmail[] = [];
  /** Messages accepted but not MIME-parseable (none expected). */
  readonly unparsable: string[] = [];
  /** Every RCPT TO the server saw, accepted or not. */
  readonly attempts: string[] = [];
  /** Client connections opened so far. */
  connections = 0;
  /**
   * How long to wait, after a message has arrived in full, before answering 250 (a slow relay).
   * The message is already in `messages`: what a test sees is what the server had accepted.
   */
  acceptDelayMs = 0;
  private readonly rejections: Rejection[] = [];
  private readonly server: SMTPServer;

  private constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      size: SIZE_LIMIT,
      logger: false,
      disableReverseLookup: true,
      // Close right after the clients' QUIT; don't linger on idle sockets.
      closeTimeout: 1000,
      onConnect: (_session, callback) => {
        this.connections += 1;
        callback();
      },
      onRcptTo: (address, _session, callback) => {
        this.attempts.push(address.address);
        const r = this.takeRejection('rcpt');
        callback(r ? smtpError(r.code, r.message) : null);
      },
      onData: (stream, session, callback) => {
        this.receive(stream, session).then(
          () => callback(null),
          (err: Error) => callback(err),
        );
      },
    });
  }

  static async start(): Promise<SmtpStandin> {
    const smtp = new SmtpStandin();
    const { server } = smtp;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    // A client that dies mid-conversation (a killed worker) resets its socket: not our error.
    server.on('error', () => undefined);
    return smtp;
  }

  get port(): number {
    return (this.server.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /**
   * Refuses the next `times` messages with `code` and `message`: 4xx says "try again later",
   * 5xx "never". By default at RCPT TO, as a relay refuses an unknown mailbox; `at: 'data'`
   * answers after the message body instead.
   */
  rejectNext(code: number, message: string, times = 1, at: RejectAt = 'rcpt'): void {
    this.rejections.push({ code, message, at, remaining: times });
  }

  /** Hangs up on every connected client, as a server restart or an idle timeout would. */
  dropConnections(): void {
    const open = (this.server as unknown as { connections: Set<{ close(): void }> }).connections;
    for (const c of open) c.close();
  }

  /** Resolves once `n` messages have been accepted in total. */
  async waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < n) {
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${n} email(s), received ${this.messages.length}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private takeRejection(at: RejectAt): Rejection | null {
    const next = this.rejections[0];
    if (!next || next.at !== at) return null;
    if (--next.remaining <= 0) this.rejections.shift();
    return next;
  }

  private async receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    if (stream.sizeExceeded) throw smtpError(552, `Message exceeds the fixed maximum message size of ${SIZE_LIMIT} bytes`);
    const rejection = this.takeRejection('data');
    if (rejection) throw smtpError(rejection.code, rejection.message);
    const raw = Buffer.concat(chunks).toString('utf8');
    const receivedAt = Date.now();
    const envelope = { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) };
    try {
      this.messages.push({ receivedAt, envelope, raw, parsed: await PostalMime.parse(raw) });
    } catch {
      this.unparsable.push(raw);
    }
    if (this.acceptDelayMs > 0) await new Promise((r) => setTimeout(r, this.acceptDelayMs));
  }
}
