import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkStandardWebhook } from '../../src/integrations/billing/webhook.provider';
import type { StandardWebhookCheck } from '../../src/integrations/billing/webhook.provider';

/** One delivery attempt as the receiver saw it. */
export interface Delivery {
  readonly id: string | undefined;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  readonly body: string;
  readonly check: StandardWebhookCheck;
  readonly status: number;
  readonly duplicate: boolean;
}

/**
 * What the receiver does with the next verified deliveries, in order:
 *  - `{ status }` answers before processing (nothing applied), with an optional Retry-After,
 *    body or Location;
 *  - `{ status, afterApply: true }` processes, then answers the status (a response lost on
 *    the way back);
 *  - `{ delayMs }` processes, then answers 2xx late (the sender may have given up by then).
 */
export type Script =
  | { readonly status: number; readonly retryAfter?: string; readonly body?: string; readonly location?: string; readonly afterApply?: boolean }
  | { readonly delayMs: number };

/**
 * A billing system at the other end of the webhook provider, as the Standard Webhooks spec asks
 * receivers to be: verifies the signature over the raw body (401 if it fails), dedupes by
 * `webhook-id` (a repeat is acknowledged with the first answer and counted, never re-applied),
 * and can be scripted to fail.
 */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** Adjustments applied, by webhook id, with the reference answered. */
  readonly applied = new Map<string, { body: unknown; reference: string }>();
  /** Repeats of an already applied webhook id, per id. */
  readonly duplicates = new Map<string, number>();
  private readonly script: Script[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly secret: string | readonly string[],
    private readonly nowSeconds: () => number,
  ) {}

  /**
   * `delayMs` is how long each request takes to handle (a slow billing system: the sender may
   * time out, crash or retry meanwhile).
   */
  static async start(opts: { secret: string | readonly string[]; nowSeconds?: () => number; path?: string; delayMs?: () => number }): Promise<WebhookReceiver> {
    const holder: { r?: WebhookReceiver } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = holder.r!;
        const handle = () => r.handle(req.headers, Buffer.concat(chunks).toString('utf8'), res);
        const delay = opts.delayMs?.() ?? 0;
        if (delay <= 0) return handle();
        const t = setTimeout(() => {
          r.timers.delete(t);
          handle();
        }, delay);
        r.timers.add(t);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${opts.path ?? '/billing/adjustments'}`;
    holder.r = new WebhookReceiver(server, url, opts.secret, opts.nowSeconds ?? (() => Math.floor(Date.now() / 1000)));
    return holder.r;
  }

  /** Scripts the next verified deliveries. */
  respondWith(...steps: Script[]): void {
    this.script.push(...steps);
  }

  /** Distinct idempotency keys applied per record: more than one would mean a retry billed under a new key. */
  keysPerRecord(): Map<string, number> {
    const out = new Map<string, number>();
    for (const { body } of this.applied.values()) {
      const recordId = (body as { data: { record_id: string } }).data.record_id;
      out.set(recordId, (out.get(recordId) ?? 0) + 1);
    }
    return out;
  }

  totalDuplicates(): number {
    return [...this.duplicates.values()].reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(headers: IncomingHttpHeaders, body: string, res: ServerResponse): void {
    const h = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : undefined);
    const id = h('webhook-id');
    const check = checkStandardWebhook({ secret: this.secret, id, timestamp: h('webhook-timestamp'), signatureHeader: h('webhook-signature'), body, nowSeconds: this.nowSeconds() });
    const record = (status: number, duplicate: boolean) =>
      this.deliveries.push({ id, timestamp: h('webhook-timestamp'), signature: h('webhook-signature'), body, check, status, duplicate });
    const answer = (status: number, payload: string, extra: Record<string, string> = {}, delayMs = 0) => {
      const write = () => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json', ...extra }).end(payload);
      };
      if (delayMs <= 0) return write();
      const t = setTimeout(() => {
        this.timers.delete(t);
        write();
      }, delayMs);
      this.timers.add(t);
    };

    if (!check.ok || !id) {
      record(401, false);
      return answer(401, JSON.stringify({ error: `signature rejected: ${check.ok ? 'missing webhook-id' : check.reason}` }));
    }
    const step = this.script.shift();
    if (step && 'status' in step && !step.afterApply) {
      record(step.status, false);
      const extra: Record<string, string> = {
        ...(step.retryAfter !== undefined ? { 'retry-after': step.retryAfter } : {}),
        ...(step.location !== undefined ? { location: step.location } : {}),
      };
      return answer(step.status, step.body ?? JSON.stringify({ error: 'scripted failure' }), extra);
    }

    // Process once per webhook id: a repeat gets the first answer and changes nothing.
    const seen = this.applied.get(id);
    if (seen) this.duplicates.set(id, (this.duplicates.get(id) ?? 0) + 1);
    else this.applied.set(id, { body: JSON.parse(body) as unknown, reference: `adj_${this.applied.size + 1}` });
    const reference = this.applied.get(id)!.reference;

    if (step && 'status' in step) {
      record(step.status, Boolean(seen));
      return answer(step.status, step.body ?? JSON.stringify({ error: 'scripted failure after applying' }));
    }
    record(200, Boolean(seen));
    answer(200, JSON.stringify({ reference }), {}, step && 'delayMs' in step ? step.delayMs : 0);
  }
}
