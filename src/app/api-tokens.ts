import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../records/access';
import { isRole } from '../records/access';
import type { AuditEventDraft } from '../records/audit';
import { AppError } from '../records/errors';
import type { Clock } from '../records/ports';

/**
 * Per-caller API tokens (`lifecycle-desk tokens create|revoke|list`). A token is 32 random bytes
 * shown once; only its SHA-256 is stored, so a copy of the database gives no usable token. The
 * token names its caller and role: the API takes the actor of every audit event from it.
 */

/** The audit chain that records token and access events which concern no account. */
export const ACCESS_CHAIN = '_access';

export const TOKEN_PREFIX = 'ldt_';

export interface ApiTokenInfo {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly created_by: string;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly revoked_at: string | null;
  readonly revoked_by: string | null;
}

/** Who an authenticated API request comes from. */
export interface ApiCaller {
  readonly tokenId: string;
  /** The token's name: the actor id recorded for everything the caller does. */
  readonly name: string;
  readonly role: Role;
}

export type TokenCheck = { ok: true; caller: ApiCaller } | { ok: false; reason: 'unknown' | 'revoked' | 'expired' };

/** Where tokens live (the database implements it); each write appends its audit event in the same transaction. */
export interface ApiTokenStore {
  insert(token: ApiTokenInfo & { readonly token_hash: string }, event: AuditEventDraft): Promise<void>;
  findByHash(hash: string): Promise<ApiTokenInfo | null>;
  /** Revokes the live token with this id or name; null when there is none. */
  revoke(idOrName: string, by: string, at: string, event: (t: ApiTokenInfo) => AuditEventDraft): Promise<ApiTokenInfo | null>;
  list(): Promise<ApiTokenInfo[]>;
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Reads `--expires`: a date or timestamp, or a duration from now (`30d`, `12h`). It must lie in
 * the future. Null: the token does not expire.
 */
export function parseExpiry(value: string | undefined, now: Date): string | null {
  if (value === undefined) return null;
  const d = /^(\d{1,5})([dh])$/.exec(value.trim());
  let at: number;
  if (d) at = now.getTime() + Number(d[1]) * (d[2] === 'd' ? 86_400_000 : 3_600_000);
  else {
    at = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value) : NaN;
  }
  if (!Number.isFinite(at))
    throw new AppError('validation_failed', `--expires: "${value.slice(0, 40)}" is not a date (YYYY-MM-DD), an ISO timestamp or a duration such as 30d or 12h`);
  if (at <= now.getTime()) throw new AppError('validation_failed', `--expires: ${new Date(at).toISOString()} is not in the future`);
  return new Date(at).toISOString();
}

export async function createApiToken(
  deps: { tokens: ApiTokenStore; clock: Clock },
  input: { name: string; role: string; by: string; expires?: string | undefined },
): Promise<{ token: string; info: ApiTokenInfo }> {
  const name = input.name.trim();
  if (!name || name.length > 200)
    throw new AppError('validation_failed', '--name: give the caller a name of 1 to 200 characters (it becomes the actor in the audit trail)');
  if (!isRole(input.role)) throw new AppError('validation_failed', `--role: "${input.role.slice(0, 40)}" is not one of agent, supervisor, finance, admin`);
  const by = input.by.trim();
  if (!by) throw new AppError('validation_failed', '--by: name who creates the token');
  const now = deps.clock.now();
  const info: ApiTokenInfo = {
    id: randomUUID(),
    name,
    role: input.role,
    created_by: by.slice(0, 200),
    created_at: now.toISOString(),
    expires_at: parseExpiry(input.expires, now),
    revoked_at: null,
    revoked_by: null,
  };
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  await deps.tokens.insert(
    { ...info, token_hash: hashToken(token) },
    {
      account_id: ACCESS_CHAIN,
      record_id: null,
      type: 'token.created',
      actor: { role: 'system', id: info.created_by },
      occurred_at: info.created_at,
      data: { token_id: info.id, name: info.name, role: info.role, expires_at: info.expires_at },
    },
  );
  return { token, info };
}

export async function revokeApiToken(deps: { tokens: ApiTokenStore; clock: Clock }, input: { token: string; by: string }): Promise<ApiTokenInfo> {
  const by = input.by.trim();
  if (!by) throw new AppError('validation_failed', '--by: name who revokes the token');
  const at = deps.clock.now().toISOString();
  const revoked = await deps.tokens.revoke(input.token.trim(), by.slice(0, 200), at, (t) => ({
    account_id: ACCESS_CHAIN,
    record_id: null,
    type: 'token.revoked',
    actor: { role: 'system', id: by.slice(0, 200) },
    occurred_at: at,
    data: { token_id: t.id, name: t.name, role: t.role },
  }));
  if (!revoked) throw new AppError('not_found', `No live token with id or name "${input.token.slice(0, 200)}" (see \`lifecycle-desk tokens list\`)`);
  return revoked;
}

/** Checks a presented token: known, not revoked, not expired at `now`. */
export async function checkApiToken(tokens: Pick<ApiTokenStore, 'findByHash'>, presented: string, now: Date): Promise<TokenCheck> {
  if (!presented.startsWith(TOKEN_PREFIX)) return { ok: false, reason: 'unknown' };
  const t = await tokens.findByHash(hashToken(presented));
  if (!t) return { ok: false, reason: 'unknown' };
  if (t.revoked_at !== null) return { ok: false, reason: 'revoked' };
  if (t.expires_at !== null && Date.parse(t.expires_at) <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, caller: { tokenId: t.id, name: t.name, role: t.role } };
}
