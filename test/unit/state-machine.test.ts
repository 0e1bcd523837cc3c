import { ACTOR_ROLES } from '../../src/records/actors';
import type { ActorRole } from '../../src/records/actors';
import { STATES } from '../../src/records/kinds';
import type { LifecycleRecord, State } from '../../src/records/kinds';
import { EVENTS, TRANSITIONS, findRule, transition } from '../../src/records/state-machine';
import type { LifecycleEvent } from '../../src/records/state-machine';
import { AppError } from '../../src/records/errors';

const NOW = new Date('2026-05-01T10:00:00.000Z');

function buildRecord(overrides: Partial<LifecycleRecord> = {}): LifecycleRecord {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    kind: 'upgrade',
    subtype: 'subscription',
    account_id: 'acc_1',
    ticket_id: '42',
    requested_by: 'agent@example.com',
    requester: null,
    reason_code: 'growth',
    reason_text: '',
    effective: 'immediate',
    effective_at: null,
    state: 'draft',
    version: 3,
    details: { to_plan: 'business' },
    amount: null,
    risk_flags: [],
    problems: [],
    created_at: '2026-04-01T00:00:00.000Z',
    updated_at: '2026-04-01T00:00:00.000Z',
    ...overrides,
  };
}

const actor = (role: ActorRole) => ({ role, id: `${role}-1` });

describe('every allowed move passes', () => {
  it.each(TRANSITIONS.flatMap((r) => r.actors.map((role) => [r.from, r.event, r.to, role] as const)))('%s --%s--> %s by %s', (from, event, to, role) => {
    const before = buildRecord({ state: from });
    const { record, events } = transition(before, event, { actor: actor(role), now: NOW });
    expect(record.state).toBe(to);
    expect(record.version).toBe(before.version + 1);
    expect(record.updated_at).toBe(NOW.toISOString());
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      account_id: 'acc_1',
      record_id: before.id,
      type: `record.${event}`,
      actor: actor(role),
      occurred_at: NOW.toISOString(),
      data: { from, to, version: before.version + 1 },
    });
  });
});

describe('every other move is refused', () => {
  const combos: [State, LifecycleEvent, ActorRole][] = [];
  for (const s of STATES) for (const e of EVENTS) for (const a of ACTOR_ROLES) combos.push([s, e, a]);
  const refused = combos.filter(([s, e, a]) => !findRule(s, e)?.actors.includes(a));

  it('the table leaves most combinations illegal', () => {
    expect(refused.length).toBeGreaterThan(combos.length / 2);
    expect(refused.length + TRANSITIONS.reduce((n, r) => n + r.actors.length, 0)).toBe(combos.length);
  });

  it.each(refused)('%s --%s--> refused for %s', (state, event, role) => {
    const before = buildRecord({ state });
    let err: unknown;
    try {
      transition(before, event, { actor: actor(role), now: NOW });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe(findRule(state, event) ? 'forbidden' : 'illegal_transition');
  });
});

it('an illegal move names the state and what is allowed instead', () => {
  expect(() => transition(buildRecord({ state: 'applied' }), 'approve', { actor: actor('supervisor'), now: NOW })).toThrow(
    /Cannot approve a record that is applied \(allowed from applied: confirm, dispute\)/,
  );
  expect(() => transition(buildRecord({ state: 'closed' }), 'cancel', { actor: actor('agent'), now: NOW })).toThrow(/closed is final/);
});

it('carries the reason, extra data and the patched fields into the record and its event', () => {
  const { record, events } = transition(buildRecord({ state: 'draft' }), 'revise', {
    actor: actor('agent'),
    now: NOW,
    reason: 'ticket edited',
    data: { ticket_update: 7 },
    patch: { problems: [{ field: 'details.to_plan', message: 'is required' }] },
  });
  expect(record.problems).toEqual([{ field: 'details.to_plan', message: 'is required' }]);
  expect(events[0]!.data).toEqual({ from: 'draft', to: 'draft', version: 4, reason: 'ticket edited', ticket_update: 7, changed: ['problems'] });
});

it('does not mutate the record it is given', () => {
  const before = buildRecord({ state: 'pending_approval' });
  const snapshot = JSON.stringify(before);
  transition(before, 'approve', { actor: actor('supervisor'), now: NOW });
  expect(JSON.stringify(before)).toBe(snapshot);
});
