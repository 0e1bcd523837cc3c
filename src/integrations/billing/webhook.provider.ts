import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../records/errors';
import type { BillingAdjustment, BillingProvider, BillingResult } from '../../records/ports';

/**
 * Billing by signed outbound webhook, signed the Standard Webhooks way (standardwebhooks.com):
 * `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256
 * of "{id}.{timestamp}.{body}">` with the secret's base64 part (after `whsec_`) as key. The
 * webhook id is the adjustment's idempotency key, so a receiver dedupes retries by it.
 */
export function signStandardWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
}

/** Receiver side: any `v1,` signature in the (space-separated) header may match; ±toleranceSeconds. */
export function verifyStandardWebhook(opts: {
  secret: string;
  id: string | undefined;
  timestamp: string | undefined;
  signatureHeader: string | undefined;
  body: string;
  nowSeconds: number;
  toleranceSeconds?: number;
}): boolean {
  if (!opts.id || !opts.timestamp || !opts.signatureHeader || !/^\d+$/.test(opts.timestamp)) return false;
  if (Math.abs(opts.nowSeconds - Number(opts.timestamp)) > (opts.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signStandardWebhook(opts.secret, opts.id, Number(opts.timestamp), opts.body));
  return opts.signatureHeader.split(' ').some((s) => {
    const given = Buffer.from(s);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

export interface WebhookProviderOptions {
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs?: number;
  readonly fetchImpl?: typeof fetch;
  readonly now?: () => Date;
}

export class WebhookBillingProvider implements BillingProvider {
  readonly name = 'webhook' as const;

  constructor(private readonly opts: WebhookProviderOptions) {}

  async applyAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const body = JSON.stringify({
      type: 'lifecycle.adjustment',
      data: {
        idempotency_key: adj.idempotencyKey,
        record_id: adj.recordId,
        account_id: adj.accountId,
        billing_customer_id: adj.billingCustomerId,
        kind: adj.kind,
        subtype: adj.subtype,
        amount: adj.amount,
        to_plan: adj.toPlan,
        cancel_at_period_end: adj.cancelAtPeriodEnd,
        description: adj.description,
      },
    });
    const ts = Math.floor((this.opts.now?.() ?? new Date()).getTime() / 1000);
    let res: Response;
    try {
      res = await (this.opts.fetchImpl ?? fetch)(this.opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': adj.idempotencyKey,
          'webhook-timestamp': String(ts),
          'webhook-signature': signStandardWebhook(this.opts.secret, adj.idempotencyKey, ts, body),
        },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
    } catch (err) {
      const what = (err as Error).name === 'TimeoutError' ? 'timed out' : `could not be reached (${(err as Error).message})`;
      throw new AppError('provider_failed', `billing webhook ${what}`, { cause: err, retryable: true });
    }
    const text = await res.text().catch(() => '');
    if (res.ok) {
      let ref: string | undefined;
      try {
        const j = JSON.parse(text) as { reference?: unknown };
        ref = typeof j.reference === 'string' ? j.reference.slice(0, 200) : undefined;
      } catch {
        ref = undefined;
      }
      return { providerRef: `webhook:${ref ?? adj.idempotencyKey}` };
    }
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    const retryAfter = res.headers.get('retry-after');
    throw new AppError('provider_failed', `billing webhook answered ${res.status}${retryAfter ? ` (retry after ${retryAfter} s)` : ''}: ${text.slice(0, 200)}`, {
      retryable,
      details: { status: res.status, retry_after: retryAfter },
    });
  }
}
