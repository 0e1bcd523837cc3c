import { z } from 'zod';
import { ROLES } from '../../records/access';
import type { Role } from '../../records/access';
import { AppError } from '../../records/errors';
import { formatPath } from '../../records/catalog';
import type { Clock } from '../../records/ports';
import type { AgentDirectory, Caller, VerifiedAgent } from '../../app/zaf-session';

/**
 * Who a sidebar user is, from Zendesk itself: the service reads the user named by the verified
 * token from the Users API with its own credentials and maps the user's Zendesk role to a
 * Lifecycle Desk role (ZAF_ROLES_FILE). The browser only ever names the user; it never says what
 * they may do. Fails closed: a user Zendesk does not confirm as an active agent of the account is
 * refused, and when Zendesk cannot be asked nobody is let in.
 */

export const ZafRoleMapSchema = z
  .object({
    _comment: z.unknown().optional(),
    /** Zendesk base roles (`agent`, `admin`; `end-user` should never be listed). */
    roles: z.record(z.string().min(1), z.enum(ROLES)).default({}),
    /** Enterprise custom role ids; win over the base role. */
    custom_roles: z.record(z.string(), z.enum(ROLES)).default({}),
  })
  .strict()
  .superRefine((m, ctx) => {
    for (const id of Object.keys(m.custom_roles)) {
      if (!/^\d+$/.test(id))
        ctx.addIssue({
          code: 'custom',
          path: ['custom_roles', id],
          message: "expected a numeric custom role id (the number in the role's URL in Admin Center)",
        });
    }
  });
export type ZafRoleMap = z.infer<typeof ZafRoleMapSchema>;

export function parseZafRoleMap(json: unknown, source: string): ZafRoleMap {
  const r = ZafRoleMapSchema.safeParse(json);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message }));
  throw new AppError('field_map_invalid', `${source}: invalid Zendesk role map:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`, {
    problems,
  });
}

/** A user as the Zendesk Users API describes them (the fields used here). */
export interface ZendeskUser {
  readonly id: number;
  readonly email: string | null;
  readonly name: string | null;
  readonly role: string;
  readonly custom_role_id: number | null;
  readonly active: boolean;
  readonly suspended: boolean;
}

export interface UserReader {
  /** Throws AppError('provider_failed') with details.status 404 for an unknown user. */
  getUser(id: string): Promise<ZendeskUser>;
}

/** The Lifecycle Desk role of a Zendesk user, or null when the map gives them none. */
export function roleOf(user: Pick<ZendeskUser, 'role' | 'custom_role_id'>, map: ZafRoleMap): Role | null {
  if (user.custom_role_id !== null && map.custom_roles[String(user.custom_role_id)]) return map.custom_roles[String(user.custom_role_id)]!;
  if (user.role === 'end-user') return null;
  return map.roles[user.role] ?? null;
}

export class ZendeskAgentDirectory implements AgentDirectory {
  private readonly cache = new Map<string, { caller: Caller; until: number }>();

  constructor(
    private readonly users: UserReader,
    private readonly map: ZafRoleMap,
    private readonly clock: Clock,
    /** How long a confirmed user is trusted before Zendesk is asked again (role changes take effect after this). */
    private readonly ttlMs = 60_000,
  ) {}

  async resolve(agent: VerifiedAgent): Promise<Caller> {
    const now = this.clock.now().getTime();
    const hit = this.cache.get(agent.id);
    if (hit && hit.until > now && hit.caller.email === agent.email) return hit.caller;
    let user: ZendeskUser;
    try {
      user = await this.users.getUser(agent.id);
    } catch (err) {
      if (err instanceof AppError && (err.options.details?.status === 404 || err.options.details?.status === 403)) {
        throw new AppError('unauthorized', 'Zendesk does not know the user this request names; sign in to Zendesk again');
      }
      throw new AppError('unavailable', 'Lifecycle Desk could not check who you are with Zendesk just now; try again in a minute', {
        cause: err,
        retryable: true,
      });
    }
    if (!user.active || user.suspended) throw new AppError('unauthorized', 'Your Zendesk user is suspended or deleted');
    if (!user.email || user.email.toLowerCase() !== agent.email.toLowerCase()) {
      throw new AppError('unauthorized', "The request's user and email do not belong together in Zendesk; reload the app");
    }
    const role = roleOf(user, this.map);
    if (!role)
      throw new AppError(
        'unauthorized',
        `Your Zendesk role (${user.custom_role_id !== null ? `custom role ${user.custom_role_id}` : user.role}) has no Lifecycle Desk role; ask an admin to add it to ZAF_ROLES_FILE`,
      );
    const caller: Caller = { zendeskUserId: String(user.id), email: user.email.toLowerCase(), name: user.name ?? agent.name, role };
    this.cache.set(agent.id, { caller, until: now + this.ttlMs });
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!);
    return caller;
  }
}
