import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyStandardWebhook } from '../../src/integrations/billing/webhook.provider';

/**
 * A billing system at the other end of the webhook provider: verifies each Standard Webhooks
 * signature, applies an adjustment once per webhook id (as a real receiver must) and counts
 * everything, so tests can prove what was billed and how often it was asked.
 */
export class BillingReceiver {
  /** Adjustments applied, by idempotency key (webhook id). */
  readonly applied = new Map<string, { record_id: string; amount: unknown }>();
  /** Deliveries per key, duplicates included. */
  readonly deliveries = new Map<string, number>();
  readonly badSignatures: number[] = [];
  private failures: number[] = [];

  private constructor(private readonly server: Server, readonly url: string, readonly secret: string, private readonly delayMs: () => number) {}

  static async start(secret: string, delayMs: () => number = () => 0): Promise<BillingReceiver> {
    const holder: { r?: BillingReceiver } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = holder.r!;
        const body = Buffer.concat(chunks).toString('utf8');
        const id = String(req.headers['webhook-id'] ?? '');
        const ok = verifyStandardWebhook({
          secret: r.secret,
          id,
          timestamp: req.headers['webhook-timestamp'] as string | undefined,
          signatureHeader: req.headers['webhook-signature'] as string | undefined,
          body,
          nowSeconds: Math.floor(Date.now() / 1000),
        });
        setTimeout(() => {
          if (!ok) {
            r.badSignatures.push(Date.now());
            res.writeHead(401).end();
            return;
          }
          const fail = r.failures.shift();
          if (fail) {
            res.writeHead(fail, fail === 429 ? { 'retry-after': '1' } : {}).end('{"error":"stand-in failure"}');
            return;
          }
          r.deliveries.set(id, (r.deliveries.get(id) ?? 0) + 1);
          const data = (JSON.parse(body) as { data: { record_id: string; amount: unknown } }).data;
          if (!r.applied.has(id)) r.applied.set(id, { record_id: data.record_id, amount: data.amount });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reference: `adj_${r.applied.size}` }));
        }, r.delayMs());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    holder.r = new BillingReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/adjustments`, secret, delayMs);
    return holder.r;
  }

  /** The next responses are these HTTP statuses (500, 429, 422…). */
  failWith(...statuses: number[]): void {
    this.failures.push(...statuses);
  }

  /** Distinct idempotency keys seen per record: more than one would mean a retry billed under a new key. */
  keysPerRecord(): Map<string, number> {
    const out = new Map<string, number>();
    for (const { record_id } of this.applied.values()) out.set(record_id, (out.get(record_id) ?? 0) + 1);
    return out;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
