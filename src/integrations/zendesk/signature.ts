import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Zendesk webhook signatures (developer.zendesk.com "Verifying webhook authenticity"):
 * X-Zendesk-Webhook-Signature = base64(HMAC-SHA256(secret, TIMESTAMP + BODY)), with TIMESTAMP the
 * X-Zendesk-Webhook-Signature-Timestamp header (ISO 8601, e.g. 2021-06-23T22:58:38Z).
 */
export const SIGNATURE_HEADER = 'x-zendesk-webhook-signature';
export const TIMESTAMP_HEADER = 'x-zendesk-webhook-signature-timestamp';
export const DEFAULT_TOLERANCE_SECONDS = 300;

export function signZendesk(secret: string, timestamp: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(timestamp).update(body).digest('base64');
}

export interface VerifyZendeskInput {
  readonly rawBody: Buffer | string;
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
  /** Current and (during rotation) next secret; any may match. */
  readonly secrets: readonly string[];
  readonly now: Date;
  readonly toleranceSeconds?: number;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Verifies a delivery in constant time per secret. Reasons name the problem, never a secret. */
export function verifyZendeskSignature(input: VerifyZendeskInput): VerifyResult {
  const tolerance = input.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (input.secrets.length === 0) return { ok: false, reason: 'no webhook secret is configured (ZENDESK_WEBHOOK_SECRET)' };
  if (!input.signature) return { ok: false, reason: `missing ${SIGNATURE_HEADER} header` };
  if (!input.timestamp) return { ok: false, reason: `missing ${TIMESTAMP_HEADER} header` };
  const at = Date.parse(input.timestamp);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(input.timestamp) || Number.isNaN(at)) return { ok: false, reason: `${TIMESTAMP_HEADER} is not an ISO 8601 time` };
  const skew = Math.abs(input.now.getTime() - at) / 1000;
  if (skew > tolerance) return { ok: false, reason: `timestamp is ${Math.round(skew)} s from now (more than ${tolerance} s): stale or replayed` };
  let given: Buffer;
  try {
    given = Buffer.from(input.signature, 'base64');
  } catch {
    return { ok: false, reason: 'signature is not base64' };
  }
  // Buffer.from ignores invalid base64 characters, so also insist it round-trips.
  if (given.length !== 32 || given.toString('base64') !== input.signature.trim()) return { ok: false, reason: 'signature is not a base64 SHA-256 HMAC' };
  let match = false;
  for (const secret of input.secrets) {
    const expected = Buffer.from(signZendesk(secret, input.timestamp, input.rawBody), 'base64');
    if (timingSafeEqual(expected, given)) match = true;
  }
  return match ? { ok: true } : { ok: false, reason: 'signature does not match the body and timestamp' };
}
