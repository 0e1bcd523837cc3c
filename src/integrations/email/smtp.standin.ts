import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import PostalMime from 'postal-mime';
import type { Email } from 'postal-mime';

export interface ReceivedEmail {
  /** When the server accepted it (ms since epoch). */
  readonly receivedAt: number;
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  readonly raw: string;
  readonly parsed: Email;
}

/**
 * A real SMTP server (the `smtp-server` package) for the tests and `lifecycle-desk demo`: it
 * accepts mail on 127.0.0.1, parses every message with postal-mime, and can refuse the next
 * messages with a given reply code to exercise retries.
 */
export class SmtpStandin {
  readonly messages: ReceivedEmail[] = [];
  /** Messages accepted but not MIME-parseable (none expected). */
  readonly unparsable: string[] = [];
  private pending = 0;
  private readonly rejections: { code: number; message: string }[] = [];

  private constructor(private readonly server: SMTPServer, readonly port: number) {}

  static async start(): Promise<SmtpStandin> {
    const holder: { s?: SmtpStandin } = {};
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      size: 10 * 1024 * 1024,
      logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const self = holder.s!;
          const reject = self.rejections.shift();
          if (reject) {
            const err = Object.assign(new Error(reject.message), { responseCode: reject.code });
            return callback(err);
          }
          const raw = Buffer.concat(chunks).toString('utf8');
          const receivedAt = Date.now();
          const envelope = { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) };
          // Like a real MTA: queue the message, answer 250, process it afterwards.
          callback();
          self.pending += 1;
          PostalMime.parse(raw).then(
            (parsed) => self.messages.push({ receivedAt, envelope, raw, parsed }),
            () => self.unparsable.push(raw),
          ).finally(() => (self.pending -= 1));
        });
      },
    });
    // A client that dies mid-conversation (a killed worker) resets its socket: not our error.
    server.on('error', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.server.address() as AddressInfo).port;
    holder.s = new SmtpStandin(server, port);
    return holder.s;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** The next `times` messages are refused with this reply (4xx: try later; 5xx: permanent). */
  rejectNext(code: number, message: string, times = 1): void {
    for (let i = 0; i < times; i++) this.rejections.push({ code, message });
  }

  async waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.messages.length < n) {
      if (Date.now() > end) throw new Error(`expected ${n} emails, got ${this.messages.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
