import { z } from 'zod';
import { ROLES } from '../../records/access';
import type { Role } from '../../records/access';
import { AppError } from '../../records/errors';
import { formatPath } from '../../records/catalog';

/**
 * Slack users' Lifecycle Desk roles, from membership of configured Slack user groups
 * (SLACK_ROLES_FILE). The same roles as API tokens and the Zendesk sidebar, checked against the
 * same access table. Fails closed: a user in no listed group has no role, and when Slack cannot
 * list a group's members the answer is "unknown", never a guess.
 */

export const SlackRoleMapSchema = z
  .object({
    _comment: z.unknown().optional(),
    user_groups: z.record(z.string().regex(/^S[A-Z0-9]{2,}$/, 'expected a Slack user group id (S…)'), z.enum(ROLES)),
  })
  .strict();
export type SlackRoleMap = z.infer<typeof SlackRoleMapSchema>;

export function parseSlackRoleMap(json: unknown, source: string): SlackRoleMap {
  const r = SlackRoleMapSchema.safeParse(json);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message }));
  throw new AppError('field_map_invalid', `${source}: invalid Slack role map:\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`, {
    problems,
  });
}

/** Strongest first: a member of several groups gets the first of these they hold. */
const PRECEDENCE: readonly Role[] = ['admin', 'supervisor', 'finance', 'agent'];

export type SlackRole = { known: true; role: Role | null } | { known: false };

/** Who is in a user group (SlackDirectory implements it, cached; null when Slack did not say). */
export interface GroupMembers {
  membersOf(groupId: string): Promise<readonly string[] | null>;
}

export class SlackRoles {
  constructor(
    private readonly map: SlackRoleMap,
    private readonly groups: GroupMembers,
  ) {}

  /** The groups the map names (their membership needs `usergroups:read`). */
  get groupIds(): string[] {
    return Object.keys(this.map.user_groups);
  }

  async roleOf(userId: string): Promise<SlackRole> {
    const held = new Set<Role>();
    for (const [group, role] of Object.entries(this.map.user_groups)) {
      const members = await this.groups.membersOf(group);
      if (members === null) return { known: false };
      if (members.includes(userId)) held.add(role);
    }
    return { known: true, role: PRECEDENCE.find((r) => held.has(r)) ?? null };
  }
}
