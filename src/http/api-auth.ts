import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Knex } from 'knex';
import { ACCESS_CHAIN, checkApiToken } from '../app/api-tokens';
import type { ApiCaller, ApiTokenStore } from '../app/api-tokens';
import { actorRoleFor, can, isRole } from '../records/access';
import type { Action } from '../records/access';
import type { Actor } from '../records/actors';
import { ACTOR_ROLES } from '../records/actors';
import { AppError } from '../records/errors';
import type { Clock } from '../records/ports';
import { KnexAuditAppender } from '../db/audit.repository';

/**
 * Who is calling `/api/*`, and may they. Every API route runs {@link authenticateApi} (onRequest):
 * the bearer token names the caller and their role (`lifecycle-desk tokens create`), or it is 401.
 * Each route then names the action it takes with {@link requireAction} (preHandler), checked
 * against the one access table (`src/records/access.ts`) the Slack app and the sidebar use too;
 * a refusal is 403 and an `access.denied` audit event. The actor of everything the route records
 * is {@link apiActor}: the token's name, never a name or role from the body.
 */

declare module 'fastify' {
  interface FastifyInstance {
    apiAccess: ApiAccess;
  }
  interface FastifyRequest {
    apiCaller?: ApiCaller;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Bearer-token check in constant time (hashing first makes the lengths equal). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer (.+)$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

/** The caller `API_TOKEN` stands for, when set: a bootstrap admin (README "HTTP"). */
export const BOOTSTRAP_CALLER: ApiCaller = { tokenId: 'bootstrap', name: 'api-token:bootstrap', role: 'admin' };

const REFUSED: Record<'unknown' | 'revoked' | 'expired', string> = {
  unknown: 'Missing or unknown bearer token: send "Authorization: Bearer <token>" with a token from `lifecycle-desk tokens create`',
  revoked: 'This API token was revoked; ask an admin for a new one',
  expired: 'This API token has expired; ask an admin for a new one',
};

export class ApiAccess {
  constructor(
    private readonly deps: {
      readonly db: Knex;
      readonly tokens: Pick<ApiTokenStore, 'findByHash'>;
      readonly clock: Clock;
      /** API_TOKEN: accepted as the bootstrap admin when set. */
      readonly bootstrapToken: string | undefined;
    },
  ) {}

  /** The caller a request's Authorization header names; throws 401 otherwise. */
  async authenticate(header: string | undefined): Promise<ApiCaller> {
    const m = /^Bearer (\S+)$/i.exec(header ?? '');
    if (!m) throw new AppError('unauthorized', REFUSED.unknown);
    if (this.deps.bootstrapToken && bearerMatches(header, this.deps.bootstrapToken)) return BOOTSTRAP_CALLER;
    const r = await checkApiToken(this.deps.tokens, m[1]!, this.deps.clock.now());
    if (!r.ok) throw new AppError('unauthorized', REFUSED[r.reason], { details: { reason: r.reason } });
    return r.caller;
  }

  /** Writes `access.denied` to the target account's chain (or the access chain) and returns the 403 to throw. */
  async deny(
    caller: ApiCaller,
    action: Action,
    target: { accountId: string | null; recordId: string | null },
    extra: Record<string, unknown> = {},
  ): Promise<AppError> {
    const now = this.deps.clock.now();
    await new KnexAuditAppender(this.deps.db).append([
      {
        account_id: target.accountId ?? ACCESS_CHAIN,
        record_id: target.recordId,
        type: 'access.denied',
        actor: apiActor(caller, 'view_record'),
        occurred_at: now.toISOString(),
        data: { action, role: caller.role, via: 'api', token_id: caller.tokenId, ...extra },
      },
    ]);
    return new AppError('forbidden', `Your token's role (${caller.role}) may not ${action.replace(/_/g, ' ')}`, {
      details: { action, role: caller.role, ...extra },
    });
  }

  /** The account (and record) a route acts on, for the refusal's audit event. */
  async targetOf(req: FastifyRequest): Promise<{ accountId: string | null; recordId: string | null }> {
    const params = (req.params ?? {}) as Record<string, unknown>;
    const url = req.routeOptions.url ?? '';
    const id = typeof params.id === 'string' ? params.id : null;
    if (id && url.startsWith('/api/records/:id')) {
      const row = /^[0-9a-f-]{36}$/i.test(id) ? await this.deps.db('lifecycle_records').where({ id }).first('account_id') : undefined;
      return { accountId: (row as { account_id?: string } | undefined)?.account_id ?? null, recordId: row ? id : null };
    }
    if (id && url.startsWith('/api/accounts/:id')) return { accountId: id.slice(0, 200), recordId: null };
    const body = req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
    return { accountId: typeof body.account_id === 'string' && body.account_id ? body.account_id.slice(0, 200) : null, recordId: null };
  }
}

/** The authenticated caller of an /api request (set by {@link authenticateApi}). */
export function callerOf(req: FastifyRequest): ApiCaller {
  if (!req.apiCaller) throw new AppError('unauthorized', REFUSED.unknown);
  return req.apiCaller;
}

/** onRequest hook for every /api route: names the caller from the token, or 401. */
export async function authenticateApi(req: FastifyRequest): Promise<void> {
  req.apiCaller = await req.server.apiAccess.authenticate(req.headers.authorization);
}

/**
 * Kept for routes written before per-caller tokens: the same check as {@link authenticateApi}
 * (the argument, the old shared token, is now the bootstrap token configured at start-up).
 */
export function requireApiToken(_apiToken?: string | undefined) {
  return authenticateApi;
}

/** preHandler: the caller's role may take `action` (access table), or 403 + `access.denied`. */
export function requireAction(action: Action) {
  return async (req: FastifyRequest): Promise<void> => {
    if (!req.apiCaller) await authenticateApi(req);
    const caller = callerOf(req);
    if (can(caller.role, action)) return;
    const access = req.server.apiAccess;
    throw await access.deny(caller, action, await access.targetOf(req));
  };
}

/** The actor recorded when an API caller takes `action`: the token's name, acting in its role. */
export const apiActor = (caller: ApiCaller, action: Action): Actor => ({ role: actorRoleFor(caller.role, action), id: caller.name });

/**
 * A body may repeat who the caller is (`by`, `role`) but never claim someone else: a different
 * name or a role other than the token's (or the lifecycle role it acts as) is 403 + `access.denied`.
 */
export async function refuseOtherIdentity(req: FastifyRequest, action: Action, claims: { by?: unknown; role?: unknown }): Promise<void> {
  const caller = callerOf(req);
  const roleOk = claims.role === undefined || claims.role === caller.role || claims.role === actorRoleFor(caller.role, action);
  const byOk = claims.by === undefined || claims.by === caller.name;
  if (roleOk && byOk) return;
  const claimed = {
    ...(roleOk ? {} : { claimed_role: isRole(claims.role) || (ACTOR_ROLES as readonly unknown[]).includes(claims.role) ? claims.role : 'other' }),
    ...(byOk ? {} : { claimed_by: typeof claims.by === 'string' ? claims.by.slice(0, 200) : 'other' }),
  };
  const access = req.server.apiAccess;
  const err = await access.deny(caller, action, await access.targetOf(req), claimed);
  throw new AppError(
    'forbidden',
    `The body claims ${roleOk ? `to be "${String(claimed.claimed_by)}"` : `the role "${String(claimed.claimed_role)}"`}; the API acts only as the token's caller (${caller.name}, ${caller.role})`,
    { details: err.options.details ?? {} },
  );
}
