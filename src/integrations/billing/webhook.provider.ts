import { timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { retryAfterMs } from '../http/retry-after';
import { redactEmails } from './redact';
import { AppError, RateLimitedError } from '../../records/errors';
import { ledgerMoney } from '../../records/billing';
import type { ConfirmedMoney, SubscriptionFacts } from '../../records/billing';
import type { BillingAdjustment, BillingProvider, BillingResult } from '../../records/ports';
import { WEBHOOK_ANSWER_SCHEMA, webhookEventBody } from './webhook.events';

/**
 * Signed outbound webhooks the Standard Webhooks way (standardwebhooks.com, symmetric scheme):
 * headers `webhook-id`, `webhook-timestamp` (Unix seconds of this attempt) and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
 * bytes of the secret's base64 part (after `whsec_`). The header may list several space-separated
 * signatures (secret rotation); one valid `v1` entry is enough. Signatures are computed by the
 * spec's reference library (`standardwebhooks`); the receiver side checks headers and the
 * timestamp here, against an injected clock (the library's own `verify` reads `Date.now()`).
 */

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The HMAC key of a `whsec_…` secret (the prefix is optional, as in the reference libraries). */
export function webhookSecretKey(secret: string): Buffer {
  const b64 = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!BASE64.test(b64) || b64.length % 4 === 1) {
    throw new AppError(
      'validation_failed',
      'webhook secret must be "whsec_" followed by base64 (Standard Webhooks format); generate one with: echo whsec_$(openssl rand -base64 32)',
    );
  }
  return Buffer.from(b64, 'base64');
}

/** The `webhook-signature` header value for one secret: `v1,<base64 signature>`. */
export function signStandardWebhook(secret: string, id: string, timestamp: number, body: string): string {
  // Checked first so a malformed secret gets our message (how to generate one), not the library's.
  webhookSecretKey(secret);
  return new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
}

export interface StandardWebhookInput {
  /** One secret, or several while rotating. */
  readonly secret: string | readonly string[];
  readonly id: string | undefined;
  readonly timestamp: string | undefined;
  readonly signatureHeader: string | undefined;
  /** The raw body exactly as received (re-serialised JSON would not verify). */
  readonly body: string;
  /** The receiver's clock, injected so verification stays a pure function. */
  readonly nowSeconds: number;
  /** Accepted clock difference either way; default 300 s. */
  readonly toleranceSeconds?: number;
}

export type StandardWebhookCheck = { ok: true } | { ok: false; reason: 'missing_headers' | 'bad_timestamp' | 'stale_timestamp' | 'bad_signature' };

/** Receiver side, with the reason a delivery was refused (for metrics and tests). */
export function checkStandardWebhook(input: StandardWebhookInput): StandardWebhookCheck {
  if (!input.id || !input.timestamp || !input.signatureHeader) return { ok: false, reason: 'missing_headers' };
  if (!/^\d{1,12}$/.test(input.timestamp)) return { ok: false, reason: 'bad_timestamp' };
  const ts = Number(input.timestamp);
  if (Math.abs(input.nowSeconds - ts) > (input.toleranceSeconds ?? 300)) return { ok: false, reason: 'stale_timestamp' };
  const given = input.signatureHeader
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  const secrets = typeof input.secret === 'string' ? [input.secret] : input.secret;
  for (const secret of secrets) {
    const expected = Buffer.from(signStandardWebhook(secret, input.id, ts, input.body).slice(3), 'base64');
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return { ok: true };
  }
  return { ok: false, reason: 'bad_signature' };
}

/** Receiver side: true when a `v1` signature matches and the timestamp is within the tolerance. */
export function verifyStandardWebhook(input: StandardWebhookInput): boolean {
  return checkStandardWebhook(input).ok;
}

export interface WebhookProviderOptions {
  /** Where adjustments are POSTed; redirects are not followed (Standard Webhooks treats 3xx as failure). */
  readonly url: string;
  /** `whsec_` + base64 of at least 24 random bytes (the spec's minimum). Never logged. */
  readonly secret: string;
  /** Per-attempt timeout, default 15 000 ms (the spec suggests 15–30 s). */
  readonly timeoutMs?: number;
  readonly fetchImpl?: typeof fetch;
  readonly now?: () => Date;
}

/** A header-safe id with no spaces; Standard Webhooks ids must not be attacker-controlled. */
const HEADER_SAFE = /^[\x21-\x7e]{1,255}$/;

/**
 * Billing by signed outbound webhook: the receiving billing system applies each effect, sent as
 * its own event type (see `webhook.events.ts` and the README). The `webhook-id` is the effect's
 * idempotency key, the same on every retry, so the receiver dedupes by it. 2xx is success (the
 * answer may name the amount the receiver applied); 408, 429, 5xx, network errors and timeouts are
 * retryable (with Retry-After passed on); any other answer is a request the receiver will not take.
 */
export class WebhookBillingProvider implements BillingProvider {
  readonly name = 'webhook' as const;
  private readonly target: URL;

  constructor(private readonly opts: WebhookProviderOptions) {
    webhookSecretKey(opts.secret);
    this.target = new URL(opts.url);
  }

  async applyAdjustment(adj: BillingAdjustment): Promise<BillingResult> {
    const id = adj.idempotencyKey;
    if (!HEADER_SAFE.test(id))
      throw new AppError('provider_failed', `idempotency key of record ${adj.recordId} is not a header-safe webhook id`, { retryable: false });
    const body = webhookEventBody(adj);
    const now = this.opts.now?.() ?? new Date();
    const ts = Math.floor(now.getTime() / 1000);
    // Only the host names the receiver in messages: a URL's path or query may carry a token.
    const where = `billing webhook (${this.target.host})`;
    let res: Response;
    try {
      res = await (this.opts.fetchImpl ?? fetch)(this.target, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'lifecycle-desk',
          'webhook-id': id,
          'webhook-timestamp': String(ts),
          'webhook-signature': signStandardWebhook(this.opts.secret, id, ts, body),
        },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 15_000),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      const what =
        e.name === 'TimeoutError' || e.name === 'AbortError'
          ? `timed out after ${this.opts.timeoutMs ?? 15_000} ms`
          : `could not be reached (${e.cause?.code ?? e.message})`;
      throw new AppError('provider_failed', `billing webhook ${what}; ${where}`, { cause: err, retryable: true, details: { status: null } });
    }
    // The body is read under the same timeout; a 2xx whose body stalls was still accepted.
    const text = await res.text().catch(() => '');
    if (res.status >= 200 && res.status < 300) return confirmation(adj, text);

    const retryAfter = res.headers.get('retry-after');
    const waitMs = retryAfterMs(retryAfter, now);
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    const hint =
      res.status >= 300 && res.status < 400
        ? ' (redirects are not followed; set BILLING_WEBHOOK_URL to the final address)'
        : res.status === 410
          ? ' (the receiver no longer accepts adjustments; fix BILLING_WEBHOOK_URL)'
          : res.status === 401 || res.status === 403
            ? ' (check that BILLING_WEBHOOK_SECRET matches the receiver and both clocks are right)'
            : '';
    const snippet = redactEmails(text).replace(/\s+/g, ' ').trim().slice(0, 200);
    // A rate limit is the queue's to wait out (worker.rateLimit), using no attempt: never a sleep here.
    if (res.status === 429) {
      throw new RateLimitedError('billing', waitMs || 1000, `billing webhook answered 429${retryAfter ? ` (retry after ${retryAfter})` : ''}; ${where}`);
    }
    throw new AppError(
      'provider_failed',
      `billing webhook answered ${res.status}${retryAfter ? ` (retry after ${retryAfter}${/^\d+$/.test(retryAfter.trim()) ? ' s' : ''})` : ''}${hint}${snippet ? `: ${snippet}` : ''}; ${where}`,
      { retryable, details: { status: res.status, retry_after: retryAfter, retry_after_ms: waitMs } },
    );
  }
}

/**
 * What the receiver confirmed: its reference, and the money of the effect — the amount it says it
 * applied, or else the amount sent (a merge moves only what the receiver says it moved).
 */
function confirmation(adj: BillingAdjustment, text: string): BillingResult {
  let answer: { reference?: string; amount_minor?: number } = {};
  try {
    const parsed = WEBHOOK_ANSWER_SCHEMA.safeParse(JSON.parse(text));
    if (parsed.success) answer = parsed.data;
  } catch {
    // A 2xx without JSON still accepted the event.
  }
  const e = adj.effect;
  const amount = answer.amount_minor !== undefined ? { amount_minor: answer.amount_minor, currency: adj.currency } : null;
  let money: ConfirmedMoney[] = ledgerMoney(e, e.type === 'merge' && amount ? { amount_minor: -amount.amount_minor, currency: adj.currency } : null);
  // A reversal takes back exactly what the original moved (so the pair nets to zero); an amount in the answer does not change it.
  if (amount && e.type !== 'merge' && e.type !== 'plan_change' && e.type !== 'void') money = money.map((m) => ({ ...m, amount }));
  const facts: SubscriptionFacts | undefined =
    e.type === 'cancel'
      ? e.mode === 'now'
        ? { status: 'canceled', cancel_at: null }
        : { cancel_at: e.mode === 'period_end' ? adj.termEnd : e.at }
      : e.type === 'merge'
        ? { cancel_at: adj.termEnd }
        : undefined;
  const reference = answer.reference ? answer.reference.slice(0, 200) : adj.idempotencyKey;
  return {
    providerRef: `webhook:${reference}`,
    money,
    ...(facts ? { subscription: facts } : {}),
    ...(e.type === 'plan_change' || e.type === 'resume' ? { price: e.price } : {}),
  };
}
