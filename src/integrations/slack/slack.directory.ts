import type { WebClient } from '@slack/web-api';
import type { ApproverDirectory } from '../../app/decide-approval';

interface Cached<T> {
  readonly value: T;
  readonly until: number;
}

/**
 * Slack users and user groups, for approver checks. Answers are cached briefly: a click must be
 * answered within 3 seconds, and group membership changes rarely. Only answers Slack actually
 * gave are cached. A failed lookup, a profile without an email (the token lacks
 * `users:read.email`, or the user hides it) or a failed group listing is reported as unknown
 * (null) and asked again next time, so the approval check refuses instead of guessing.
 */
export class SlackDirectory implements ApproverDirectory {
  private readonly emails = new Map<string, Cached<string>>();
  private readonly groups = new Map<string, Cached<readonly string[]>>();

  constructor(
    private readonly client: WebClient,
    private readonly ttlMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async emailOf(userId: string): Promise<string | null> {
    const hit = this.emails.get(userId);
    if (hit && hit.until > this.now()) return hit.value;
    const email = await this.client.users.info({ user: userId }).then(
      (res) => {
        const e = res.user?.profile?.email;
        return typeof e === 'string' && e.trim() !== '' ? e : null;
      },
      () => null,
    );
    if (email !== null) this.emails.set(userId, { value: email, until: this.now() + this.ttlMs });
    return email;
  }

  async groupsOf(userId: string, groupIds: readonly string[]): Promise<string[] | null> {
    const out: string[] = [];
    for (const g of groupIds) {
      const members = await this.membersOf(g);
      if (members === null) return null;
      if (members.includes(userId)) out.push(g);
    }
    return out;
  }

  async membersOf(groupId: string): Promise<readonly string[] | null> {
    const hit = this.groups.get(groupId);
    if (hit && hit.until > this.now()) return hit.value;
    const users = await this.client.usergroups.users.list({ usergroup: groupId }).then(
      (res) => res.users ?? null,
      () => null,
    );
    if (users !== null) this.groups.set(groupId, { value: users, until: this.now() + this.ttlMs });
    return users;
  }
}
