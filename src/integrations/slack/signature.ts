import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Slack request signing (docs.slack.dev/authentication/verifying-requests-from-slack): the
 * signature is `v0=` + hex(HMAC-SHA256(signing secret, `v0:` + timestamp + `:` + raw body)), sent
 * in `X-Slack-Signature` with the timestamp in `X-Slack-Request-Timestamp`. Bolt verifies
 * requests in production; these helpers let tests sign requests exactly as Slack does and give
 * other code a pure, clock-injected check (the caller passes `nowSeconds`).
 */

export const SLACK_SIGNATURE_VERSION = 'v0';
export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';
/** Slack's replay window: requests older (or newer) than five minutes are refused. */
export const SLACK_DEFAULT_TOLERANCE_SECONDS = 300;

const SIGNATURE_FORMAT = /^v0=[0-9a-f]{64}$/;

function hmacHex(secret: string, timestamp: number | string, rawBody: string | Buffer): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${SLACK_SIGNATURE_VERSION}:${timestamp}:`);
  // A Buffer is hashed byte for byte; re-decoding it could change what was signed.
  hmac.update(rawBody);
  return hmac.digest('hex');
}

/** `v0=<hex>` for `rawBody` sent at `timestamp` (Unix seconds), as Slack computes it. */
export function signSlackRequest(secret: string, timestamp: number, rawBody: string | Buffer): string {
  if (!secret) throw new Error('signSlackRequest: the signing secret is empty');
  if (!Number.isSafeInteger(timestamp)) throw new RangeError('signSlackRequest: timestamp must be whole Unix seconds');
  return `${SLACK_SIGNATURE_VERSION}=${hmacHex(secret, timestamp, rawBody)}`;
}

/** The two headers Slack adds to every request it signs. */
export function slackSignatureHeaders(secret: string, timestamp: number, rawBody: string | Buffer): Record<string, string> {
  return {
    [SLACK_SIGNATURE_HEADER]: signSlackRequest(secret, timestamp, rawBody),
    [SLACK_TIMESTAMP_HEADER]: String(timestamp),
  };
}

export type SlackSignatureFailure =
  | 'missing_secret'
  | 'missing_signature'
  | 'missing_timestamp'
  | 'invalid_timestamp'
  | 'stale_timestamp'
  | 'unknown_version'
  | 'malformed_signature'
  | 'signature_mismatch';

export type SlackSignatureResult = { ok: true } | { ok: false; reason: SlackSignatureFailure };

export interface VerifySlackSignatureOptions {
  /** The app's signing secret; several during a rotation (any one may match). */
  readonly secret: string | readonly string[];
  /** `X-Slack-Signature` as received. */
  readonly signature: string | null | undefined;
  /** `X-Slack-Request-Timestamp` as received (header string) or already parsed. */
  readonly timestamp: string | number | null | undefined;
  /** The body exactly as received, before any parsing. */
  readonly rawBody: string | Buffer;
  /** Current Unix time in seconds, injected so the check is pure and testable. */
  readonly nowSeconds: number;
  /** Allowed clock difference either way; Slack recommends five minutes. */
  readonly toleranceSeconds?: number;
}

/**
 * Checks a request's Slack signature. The timestamp is checked first (both directions, unlike
 * Bolt, which only refuses old ones), so a replayed body cannot be reused later; the comparison
 * is constant-time. Never throws on hostile input.
 */
export function verifySlackSignature(opts: VerifySlackSignatureOptions): SlackSignatureResult {
  const secrets = (typeof opts.secret === 'string' ? [opts.secret] : [...opts.secret]).filter((s) => s.length > 0);
  if (!secrets.length) return { ok: false, reason: 'missing_secret' };
  if (!opts.signature) return { ok: false, reason: 'missing_signature' };
  if (opts.timestamp === null || opts.timestamp === undefined || opts.timestamp === '') return { ok: false, reason: 'missing_timestamp' };

  const tsText = String(opts.timestamp).trim();
  if (!/^\d{1,15}$/.test(tsText)) return { ok: false, reason: 'invalid_timestamp' };
  const ts = Number(tsText);
  const tolerance = opts.toleranceSeconds ?? SLACK_DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(opts.nowSeconds - ts) > tolerance) return { ok: false, reason: 'stale_timestamp' };

  const signature = opts.signature.trim();
  if (!signature.startsWith(`${SLACK_SIGNATURE_VERSION}=`)) return { ok: false, reason: 'unknown_version' };
  if (!SIGNATURE_FORMAT.test(signature.toLowerCase())) return { ok: false, reason: 'malformed_signature' };
  const received = Buffer.from(signature.slice(3).toLowerCase(), 'hex');

  let matched = false;
  for (const secret of secrets) {
    // Both buffers are 32 bytes (checked by the format test), as timingSafeEqual requires.
    const expected = Buffer.from(hmacHex(secret, tsText, opts.rawBody), 'hex');
    // No early exit: every secret is compared, so timing does not reveal which one matched.
    matched = timingSafeEqual(received, expected) || matched;
  }
  return matched ? { ok: true } : { ok: false, reason: 'signature_mismatch' };
}
