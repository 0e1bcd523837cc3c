import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkStandardWebhook } from '../../src/integrations/billing/webhook.provider';
import type { StandardWebhookCheck } from '../../src/integrations/billing/webhook.provider';
import { WEBHOOK_EVENT_SCHEMAS } from '../../src/integrations/billing/webhook.events';

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
export type Script = (
  | { readonly status: number; readonly retryAfter?: string; readonly body?: string; readonly location?: string; readonly afterApply?: boolean }
  | { readonly delayMs: number }
) & {
  /** Only for the next delivery of this event type (e.g. `lifecycle.refund_issued`); others pass it by. */
  readonly type?: string;
};

/**
 * A billing system at the other end of the webhook provider, as the Standard Webhooks spec asks
 * receivers to be: verifies the signature over the raw body (401 if it fails), checks the body
 * against the event type's published JSON schema (400 if it does not match), dedupes by
 * `webhook-id` (a repeat is acknowledged with the first answer and counted, never re-applied),
 * and can be scripted to fail.
 */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  /** Adjustments applied, by webhook id, with the reference answered. */
  readonly applied = new Map<string, { body: unknown; reference: string }>();
  /** Repeats of an already applied webhook id, per id. */
  readonly duplicates = new Map<string, number>();
  /** Bodies refused because they did not match their event type's schema. */
  readonly schemaErrors: { type: unknown; problem: string }[] = [];
  /** The amount the receiver says it applied, per event type (default: what was sent). */
  readonly confirmAmount = new Map<string, number>();
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

  /** Applied events of a type, in order. */
  eventsOf(type: string): { data: Record<string, unknown> }[] {
    return [...this.applied.values()].map((a) => a.body as { type: string; data: Record<string, unknown> }).filter((b) => b.type === type);
  }

  /** Distinct idempotency keys applied per record: more than one per effect would mean a retry billed under a new key. */
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
    const check = checkStandardWebhook({
      secret: this.secret,
      id,
      timestamp: h('webhook-timestamp'),
      signatureHeader: h('webhook-signature'),
      body,
      nowSeconds: this.nowSeconds(),
    });
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
    let type: unknown;
    try {
      const parsed = JSON.parse(body) as { type?: unknown };
      type = parsed.type;
      const schema = WEBHOOK_EVENT_SCHEMAS[type as keyof typeof WEBHOOK_EVENT_SCHEMAS];
      const check = schema ? schema.safeParse(parsed) : null;
      if (!check?.success) {
        const problem = check ? check.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') : `unknown event type ${String(type)}`;
        this.schemaErrors.push({ type, problem });
        record(400, false);
        return answer(400, JSON.stringify({ error: problem }));
      }
    } catch {
      this.schemaErrors.push({ type: null, problem: 'not JSON' });
      record(400, false);
      return answer(400, JSON.stringify({ error: 'not JSON' }));
    }
    const at = this.script.findIndex((s) => s.type === undefined || s.type === type);
    const step = at >= 0 ? this.script.splice(at, 1)[0] : undefined;
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
    const amount = this.confirmAmount.get(String(type));
    answer(200, JSON.stringify({ reference, ...(amount !== undefined ? { amount_minor: amount } : {}) }), {}, step && 'delayMs' in step ? step.delayMs : 0);
  }
}
