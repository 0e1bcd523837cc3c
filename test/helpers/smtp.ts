import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
// postal-mime's CommonJS build (what Jest resolves) sets `module.exports` to the class and marks
// it `__esModule` with `default` pointing at itself, so swc's default-import interop yields the
// class; `PostalMime.parse` is its static one-shot parser.
import PostalMime from 'postal-mime';
import type { Email } from 'postal-mime';

export interface ReceivedMessage {
  readonly envelope: { readonly from: string; readonly to: string[] };
  /** The message exactly as it arrived after DATA (headers and MIME body). */
  readonly raw: string;
  readonly parsed: Email;
}

/** Where a scripted rejection answers: to RCPT TO (like "550 mailbox unavailable") or after DATA. */
export type RejectAt = 'rcpt' | 'data';

interface Rejection {
  readonly code: number;
  readonly message: string;
  readonly at: RejectAt;
  remaining: number;
}

/** Largest message the server accepts; larger ones get 552 like a real relay would answer. */
const SIZE_LIMIT = 5 * 1024 * 1024;

const smtpError = (code: number, message: string): Error => Object.assign(new Error(message), { responseCode: code });

/**
 * A real SMTP server (the `smtp-server` package) on 127.0.0.1 and a free port, for tests: no
 * STARTTLS (plain text on loopback), authentication optional, 5 MB size limit. Every accepted
 * message is kept raw and parsed with postal-mime; `rejectNext` scripts refusals.
 */
export class TestSmtpServer {
  readonly messages: ReceivedMessage[] = [];
  /** Every RCPT TO the server saw, accepted or not. */
  readonly attempts: string[] = [];
  /** Client connections opened so far. */
  connections = 0;
  private readonly rejections: Rejection[] = [];

  private readonly server: SMTPServer;

  private constructor() {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      size: SIZE_LIMIT,
      logger: false,
      disableReverseLookup: true,
      // Tests close the server right after the client's QUIT; don't linger on idle sockets.
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

  /** Hangs up on every connected client, as a server restart or an idle timeout would. */
  dropConnections(): void {
    const open = (this.server as unknown as { connections: Set<{ close(): void }> }).connections;
    for (const c of open) c.close();
  }

  static async start(): Promise<TestSmtpServer> {
    const smtp = new TestSmtpServer();
    const { server } = smtp;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    // A client that hangs up mid-session makes the server emit 'error'; that is no test failure.
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

  /** Resolves once `n` messages have been accepted in total. */
  async waitFor(n: number, timeoutMs = 5000): Promise<void> {
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
    const parsed = await PostalMime.parse(raw);
    this.messages.push({
      envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) },
      raw,
      parsed,
    });
  }
}
