import { ACTIONS, PERMISSIONS, actorRoleFor, ROLES, actionsOf, can, isRole, rolesFor } from '../../src/records/access';
import { findRule } from '../../src/records/state-machine';

/** The permission table, walked: every listed (role, action) pair is allowed, every other pair refused. */

const allowed = new Set(PERMISSIONS.flatMap((p) => p.roles.map((r) => `${r}:${p.action}`)));

describe('can(role, action)', () => {
  for (const role of ROLES) {
    for (const action of ACTIONS) {
      const expected = allowed.has(`${role}:${action}`);
      it(`${expected ? 'allows' : 'refuses'} ${role} to ${action}`, () => {
        expect(can(role, action)).toBe(expected);
      });
    }
  }

  it('lists every action exactly once', () => {
    expect(PERMISSIONS.map((p) => p.action).sort()).toEqual([...ACTIONS].sort());
  });

  it('refuses an unknown or missing role and an unknown action', () => {
    expect(can(null, 'view_record')).toBe(false);
    expect(can(undefined, 'view_record')).toBe(false);
    expect(can('owner' as never, 'view_record')).toBe(false);
    expect(can('admin', 'delete_everything' as never)).toBe(false);
  });

  it('keeps the rules this issue relies on: agents cannot retry, finance cannot file or cancel', () => {
    expect(can('agent', 'retry_record')).toBe(false);
    expect(can('finance', 'file_request')).toBe(false);
    expect(can('finance', 'cancel_record')).toBe(false);
    expect(can('finance', 'retry_record')).toBe(true);
    // Finance does not talk customers out of leaving.
    expect(can('agent', 'answer_retention_offer')).toBe(true);
    expect(can('finance', 'answer_retention_offer')).toBe(false);
  });

  it('answers per role and per action from the same table', () => {
    for (const role of ROLES) expect(actionsOf(role)).toEqual(ACTIONS.filter((a) => allowed.has(`${role}:${a}`)));
    for (const action of ACTIONS) expect([...rolesFor(action)].sort()).toEqual(ROLES.filter((r) => allowed.has(`${r}:${action}`)).sort());
    expect(isRole('finance')).toBe(true);
    expect(isRole('root')).toBe(false);
  });
});

describe('actorRoleFor', () => {
  it('gives every role an actor the lifecycle lets take the transitions its actions need', () => {
    const needs = {
      cancel_record: [
        ['scheduled', 'cancel'],
        ['pending_approval', 'cancel'],
      ],
      retry_record: [['failed', 'retry']],
      fix_draft: [
        ['draft', 'revise'],
        ['draft', 'submit'],
      ],
      dispute_record: [
        ['applied', 'dispute'],
        ['confirmed', 'dispute'],
      ],
      resolve_record: [['disputed', 'resolve']],
      answer_retention_offer: [
        ['submitted', 'decline_offer'],
        ['submitted', 'cancel'],
      ],
    } as const;
    for (const role of ROLES) {
      for (const [action, moves] of Object.entries(needs)) {
        if (!can(role, action as keyof typeof needs)) continue;
        for (const [from, event] of moves) expect(findRule(from, event)!.actors).toContain(actorRoleFor(role, action as keyof typeof needs));
      }
    }
  });
});
