import { ZendeskAgentDirectory, roleOf } from '../../src/integrations/zendesk/zaf-directory';
import type { UserReader, ZafRoleMap, ZendeskUser } from '../../src/integrations/zendesk/zaf-directory';
import { AppError } from '../../src/records/errors';
import { TestClock } from '../helpers/app';

/** Who a sidebar user is comes from Zendesk's Users API (here a reader over a table), mapped through the roles file. */

const map: ZafRoleMap = { roles: { agent: 'agent', admin: 'admin' }, custom_roles: { '77': 'finance' } };
const user = (over: Partial<ZendeskUser> = {}): ZendeskUser => ({
  id: 5,
  email: 'ann@support.example',
  name: 'Ann',
  role: 'agent',
  custom_role_id: null,
  active: true,
  suspended: false,
  ...over,
});

class Users implements UserReader {
  calls = 0;
  constructor(public answer: ZendeskUser | AppError) {}
  async getUser(): Promise<ZendeskUser> {
    this.calls += 1;
    if (this.answer instanceof AppError) throw this.answer;
    return this.answer;
  }
}
const agent = { id: '5', email: 'ann@support.example', name: 'Ann' };

it('maps base roles and custom roles; custom roles win; end users and unlisted roles get none', () => {
  expect(roleOf(user(), map)).toBe('agent');
  expect(roleOf(user({ role: 'admin' }), map)).toBe('admin');
  expect(roleOf(user({ custom_role_id: 77 }), map)).toBe('finance');
  expect(roleOf(user({ custom_role_id: 78 }), map)).toBe('agent');
  expect(roleOf(user({ role: 'end-user' }), map)).toBeNull();
  expect(roleOf(user({ role: 'light_agent' }), map)).toBeNull();
});

it('confirms the user with Zendesk, then trusts the answer for a minute', async () => {
  const clock = new TestClock(new Date('2026-03-16T12:00:00Z'));
  const users = new Users(user({ custom_role_id: 77 }));
  const dir = new ZendeskAgentDirectory(users, map, clock);
  expect(await dir.resolve(agent)).toEqual({ zendeskUserId: '5', email: 'ann@support.example', name: 'Ann', role: 'finance' });
  await dir.resolve(agent);
  expect(users.calls).toBe(1);
  // A role changed in Zendesk shows after the cache runs out.
  users.answer = user();
  clock.set(new Date('2026-03-16T12:01:01Z'));
  expect((await dir.resolve(agent)).role).toBe('agent');
  expect(users.calls).toBe(2);
});

it.each([
  ['suspended', user({ suspended: true }), /suspended or deleted/],
  ['deleted', user({ active: false }), /suspended or deleted/],
  ['another email', user({ email: 'mallory@support.example' }), /do not belong together/],
  ['an end user', user({ role: 'end-user' }), /has no Lifecycle Desk role/],
  ['unknown to Zendesk', new AppError('provider_failed', 'Zendesk user 5 read: not found', { details: { status: 404 } }), /does not know the user/],
])('refuses a user who is %s (401)', async (_what, answer, message) => {
  const err = await new ZendeskAgentDirectory(new Users(answer), map, new TestClock()).resolve(agent).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('unauthorized');
  expect((err as AppError).message).toMatch(message);
});

it('lets nobody in when Zendesk cannot be asked (503)', async () => {
  const err = await new ZendeskAgentDirectory(
    new Users(new AppError('provider_failed', 'Zendesk user 5 read failed after 2 attempts', { retryable: true, details: { status: 500 } })),
    map,
    new TestClock(),
  )
    .resolve(agent)
    .catch((e: unknown) => e);
  expect((err as AppError).code).toBe('unavailable');
  expect((err as AppError).message).toMatch(/could not check who you are/);
});
