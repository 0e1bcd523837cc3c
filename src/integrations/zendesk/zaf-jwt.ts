import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Verifies the JWT Zendesk's app proxy signs for the sidebar's secure requests (`client.request`
 * with `secure: true` and a `jwt` option whose `secret_key` is the `{{setting.shared_secret}}`
 * secure setting; the proxy puts the signed token where the request says `{{jwt.token}}`). Pure:
 * the clock is passed in, so expiry is tested without waiting.
 *
 * Only HS256 is accepted (the algorithm the app asks for); a token naming any other algorithm,
 * `none` included, is refused before its signature is looked at, so an attacker cannot choose how
 * it is checked. Claims the app asks for, filled in by Zendesk: `sub` (the agent's Zendesk user
 * id, `{{current_user.id}}`), `email` (`{{current_user.email}}`), optionally `name`; `iss`, the
 * account's URL (`https://<subdomain>.zendesk.com`); `aud`, {@link ZAF_AUDIENCE}; `iat` and `exp`,
 * which the proxy sets from the request's `expiry`.
 */

export const ZAF_AUDIENCE = 'lifecycle-desk';
/** A token may live at most this long (the app asks for 5 minutes): a long-lived one was not made by our app, and would outlive a revoked role. */
export const MAX_TOKEN_LIFETIME_S = 600;
/** Clock difference tolerated between Zendesk's proxy and us. */
export const CLOCK_SKEW_S = 60;

export type ZafTokenRefusal =
  | 'missing'
  | 'malformed'
  | 'unsupported_algorithm'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'lifetime_too_long'
  | 'wrong_subdomain'
  | 'wrong_audience'
  | 'missing_claims';

/** The agent a verified token speaks for, as Zendesk's proxy filled in the claims. */
export interface ZafAgent {
  /** Zendesk user id (digits). */
  readonly id: string;
  readonly email: string;
  readonly name: string | null;
}

export type ZafVerification =
  { readonly ok: true; readonly agent: ZafAgent; readonly expiresAt: Date } | { readonly ok: false; readonly reason: ZafTokenRefusal };

/** Words for each refusal; they name what is wrong, never the secret or the token. */
export const REFUSAL_WORDS: Readonly<Record<ZafTokenRefusal, string>> = {
  missing: 'no token: the request must come through the Zendesk app (Authorization: Bearer {{jwt.token}})',
  malformed: 'the token is not a JWT',
  unsupported_algorithm: 'the token is not signed with HS256',
  bad_signature: "the token's signature does not match the shared secret (ZAF_SHARED_SECRET and the app's shared secret setting differ?)",
  expired: 'the token has expired',
  not_yet_valid: 'the token was issued in the future (check the clock)',
  lifetime_too_long: `the token lives longer than ${MAX_TOKEN_LIFETIME_S} s`,
  wrong_subdomain: "the token is for another Zendesk account than this service's ZENDESK_SUBDOMAIN",
  wrong_audience: `the token is not meant for ${ZAF_AUDIENCE}`,
  missing_claims: 'the token does not name the agent (sub, email) or its times (iat, exp)',
};

export interface VerifyZafTokenInput {
  /** The `Authorization` header value (`Bearer <jwt>`), or the bare token. */
  readonly token: string | undefined;
  /** ZAF_SHARED_SECRET; two while rotating (current, next): either verifies. */
  readonly secrets: readonly string[];
  /** ZENDESK_SUBDOMAIN: tokens must come from this account. */
  readonly subdomain: string;
  readonly now: Date;
}

const b64urlJson = (part: string): unknown => {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new Error('not base64url');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null =>
  typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : null;
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) ? v : null);

/** `https://acme.zendesk.com` (what `iss` holds) for a subdomain. */
export const accountIssuer = (subdomain: string): string => `https://${subdomain.toLowerCase()}.zendesk.com`;

export function verifyZafToken(input: VerifyZafTokenInput): ZafVerification {
  const raw = input.token?.replace(/^Bearer\s+/i, '').trim();
  if (!raw) return { ok: false, reason: 'missing' };
  const parts = raw.split('.');
  if (parts.length !== 3 || parts.some((p) => p === '')) return { ok: false, reason: 'malformed' };
  let header: unknown;
  let claims: unknown;
  try {
    header = b64urlJson(parts[0]!);
    claims = b64urlJson(parts[1]!);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!isObj(header) || !isObj(claims)) return { ok: false, reason: 'malformed' };
  if (header.alg !== 'HS256') return { ok: false, reason: 'unsupported_algorithm' };
  if (!/^[A-Za-z0-9_-]+$/.test(parts[2]!)) return { ok: false, reason: 'malformed' };
  const given = Buffer.from(parts[2]!, 'base64url');
  const signed = `${parts[0]}.${parts[1]}`;
  const matches = input.secrets.some((secret) => {
    const expected = createHmac('sha256', secret).update(signed).digest();
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!matches) return { ok: false, reason: 'bad_signature' };

  const iat = int(claims.iat);
  const exp = int(claims.exp);
  const sub = str(claims.sub);
  const email = str(claims.email);
  if (iat === null || exp === null || sub === null || email === null || !/^\d{1,20}$/.test(sub) || !/^[^\s@]+@[^\s@]+$/.test(email)) {
    return { ok: false, reason: 'missing_claims' };
  }
  const nowS = Math.floor(input.now.getTime() / 1000);
  if (exp <= nowS) return { ok: false, reason: 'expired' };
  if (iat > nowS + CLOCK_SKEW_S) return { ok: false, reason: 'not_yet_valid' };
  if (exp - iat > MAX_TOKEN_LIFETIME_S) return { ok: false, reason: 'lifetime_too_long' };
  if (str(claims.iss)?.toLowerCase().replace(/\/+$/, '') !== accountIssuer(input.subdomain)) return { ok: false, reason: 'wrong_subdomain' };
  const aud = claims.aud;
  if (!(aud === ZAF_AUDIENCE || (Array.isArray(aud) && aud.includes(ZAF_AUDIENCE)))) return { ok: false, reason: 'wrong_audience' };
  return { ok: true, agent: { id: sub, email: email.toLowerCase(), name: str(claims.name)?.slice(0, 200) ?? null }, expiresAt: new Date(exp * 1000) };
}
