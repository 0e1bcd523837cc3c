import { randomUUID } from 'node:crypto';
import { runWatchdog } from '../../src/app/watchdog';
import type { WatchdogDeps } from '../../src/app/watchdog';
import { KnexWatchdogSource } from '../../src/db/watchdog.queries';
import { KnexAuditAppender } from '../../src/db/audit.repository';
import { recordToRow } from '../../src/db/mappers';
import { parseClocks } from '../../src/records/clocks';
import type { LifecycleRecord } from '../../src/records/kinds';
import { verifyAudit } from '../../src/db/audit.queries';
import { createTestDb } from '../helpers/db';
import type { TestDb } from '../helpers/db';
import { buildAccount } from '../helpers/builders';
import { TestClock, countRows, seedAccounts } from '../helpers/app';
import { startTestService, until } from '../helpers/service';

const T0 = Date.parse('2026-03-16T12:00:00Z');
const H = 3_600_000;
const at = (hours: number) => new Date(T0 + hours * H);

const clocks = parseClocks(
  {
    draft_hours: { downgrade: 8, upgrade: 8, termination: 8, status_change: 8, service_credit: 8 },
    turnaround_hours: { downgrade: 48, upgrade: 24, termination: 48, status_change: 24, service_credit: 48 },
    at_risk_share: 0.75,
  },
  'clocks.json',
);

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await seedAccounts(t.db, buildAccount());
});
afterAll(async () => {
  await t.destroy();
});

async function insert(
  overrides: Partial<LifecycleRecord> & Pick<LifecycleRecord, 'kind' | 'state' | 'created_at'>,
  events: { type: string; hours: number }[] = [],
): Promise<string> {
  const id = randomUUID();
  const r: LifecycleRecord = {
    id,
    subtype: 'subscription',
    account_id: 'acc_acme',
    ticket_id: String(7000 + Math.floor(Math.random() * 1000)),
    requested_by: 'agent@support.example',
    requester: null,
    reason_code: 'price',
    reason_text: '',
    effective: 'immediate',
    effective_at: overrides.created_at,
    version: 2,
    details: {},
    amount: null,
    risk_flags: [],
    problems: [],
    updated_at: overrides.created_at,
    ...overrides,
  };
  await t.admin('lifecycle_records').insert(recordToRow(r));
  if (events.length) {
    await t.db.transaction((trx) =>
      new KnexAuditAppender(trx).append(
        events.map((e) => ({
          account_id: r.account_id,
          record_id: id,
          type: e.type,
          actor: { role: 'system' as const, id: 'test' },
          occurred_at: at(e.hours).toISOString(),
          data: {},
        })),
      ),
    );
  }
  return id;
}

describe('on a fake clock', () => {
  const clock = new TestClock(at(0));
  const deps: Omit<WatchdogDeps, 'source'> = { clock, clocks };
  const ids: Record<string, string> = {};
  const scan = async (hours: number) => {
    clock.set(at(hours));
    const raised = await runWatchdog({ ...deps, source: new KnexWatchdogSource(t.db) });
    return raised.map((r) => `${Object.keys(ids).find((k) => ids[k] === r.record_id)}:${r.condition}`).sort();
  };

  beforeAll(async () => {
    // A draft filed now; an approval requested now (escalation after 24 h); a record that failed now
    // (filed 10 h ago); a termination scheduled for now + 2 h (filed long ago, then approved and
    // scheduled: its wait does not count); a record confirmed long ago.
    ids.draft = await insert({ kind: 'upgrade', state: 'draft', created_at: at(0).toISOString() });
    ids.approval = await insert({ kind: 'service_credit', subtype: 'outage', state: 'pending_approval', created_at: at(0).toISOString() });
    await t.admin('approval_requests').insert({
      record_id: ids.approval,
      rule: 'credits',
      approvals_required: 1,
      approvers: JSON.stringify({ user_ids: ['U1'], user_groups: [] }),
      escalation: '{}',
      risk: '[]',
      reminder_after_hours: 4,
      escalate_after_hours: 24,
      channel: 'C1',
      messages: '[]',
      requested_at: at(0).toISOString(),
    });
    ids.failed = await insert({ kind: 'downgrade', state: 'failed', created_at: at(-10).toISOString(), updated_at: at(0).toISOString() });
    ids.scheduled = await insert(
      { kind: 'termination', subtype: 'customer_initiated', state: 'scheduled', created_at: at(-100).toISOString(), effective_at: at(2).toISOString() },
      [{ type: 'record.schedule', hours: -99 }],
    );
    ids.confirmed = await insert({ kind: 'upgrade', state: 'confirmed', created_at: at(-100).toISOString() });
  });

  it('raises each condition once, when its clock runs out, and only once', async () => {
    expect(await scan(0.5)).toEqual([]);
    expect(await scan(1)).toEqual(['failed:failed_stuck']);
    expect(await scan(1)).toEqual([]);
    expect(await scan(2.5)).toEqual([]);
    expect(await scan(3)).toEqual(['scheduled:scheduled_late']);
    expect(await scan(7.9)).toEqual([]);
    expect(await scan(8)).toEqual(['draft:draft_overdue']);
    // Upgrade target 24 h: at risk once 75 % (18 h) has passed with the record still open.
    expect(await scan(18)).toEqual(['draft:turnaround_at_risk']);
    expect(await scan(24)).toEqual(['approval:approval_overdue']);
    // The failed downgrade was filed 10 h before: 36 h of its 48 h are gone at +26 h.
    expect(await scan(26)).toEqual(['failed:turnaround_at_risk']);
    expect(await scan(36)).toEqual(['approval:turnaround_at_risk']);
    expect(await scan(500)).toEqual([]);
  });

  it('queued one Slack alert and one ticket note per alert, and audited each', async () => {
    expect(await countRows(t.db, 'watchdog_alerts')).toBe(7);
    const alerts = await t.db('outbox').where({ topic: 'slack.alert' }).whereLike('key', 'watchdog.%').select('key', 'payload');
    expect(alerts).toHaveLength(7);
    const failed = alerts.find((a) => a.key === `watchdog.${ids.failed}.failed_stuck`)!;
    expect(failed.payload).toEqual({ record_id: ids.failed, reason: 'it failed 1 h ago and has not been retried' });
    const draft = alerts.find((a) => a.key === `watchdog.${ids.draft}.draft_overdue`)!;
    expect(draft.payload.reason).toBe("its draft has waited 8 h, past the 8 h target for upgrade drafts: the ticket's fields need fixing");
    const notes = await t.db('outbox').where({ topic: 'zendesk.note' }).whereLike('key', 'watchdog-note.%').select('key', 'payload');
    expect(notes).toHaveLength(7);
    expect(notes.find((n) => n.key === `watchdog-note.${ids.scheduled}.scheduled_late`)!.payload.note).toMatch(
      new RegExp(
        `^Lifecycle Desk record ${ids.scheduled} needs attention: it was due at 2026-03-16T14:00:00.000Z and is still scheduled, 1 h later\\. The team has been alerted in Slack\\.$`,
      ),
    );
    expect(await countRows(t.db, 'audit_events', { type: 'watchdog.alert' })).toBe(7);
    expect((await verifyAudit(t.db)).broken).toBeNull();
  });

  it('two watchdogs scanning at once raise an alert once', async () => {
    const late = await insert({ kind: 'downgrade', state: 'failed', created_at: at(600).toISOString(), updated_at: at(600).toISOString() });
    clock.set(at(602));
    const [a, b] = await Promise.all([
      runWatchdog({ ...deps, source: new KnexWatchdogSource(t.db) }),
      runWatchdog({ ...deps, source: new KnexWatchdogSource(t.db) }),
    ]);
    expect([...a, ...b].filter((r) => r.record_id === late)).toEqual([{ record_id: late, condition: 'failed_stuck' }]);
  });
});

describe('with a business calendar', () => {
  it("counts a draft's age in working hours only", async () => {
    const calendarClocks = parseClocks(
      {
        ...clocks,
        business_hours: { time_zone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'], open: '09:00', close: '17:00', holidays: ['2026-03-20'] },
      },
      'clocks.json',
    );
    // Filed Thursday 19 March 2026 16:00 Berlin (15:00 UTC): one working hour that day; Friday is a holiday.
    const id = await insert({ kind: 'downgrade', state: 'draft', created_at: '2026-03-19T15:00:00Z' });
    const clock = new TestClock(new Date('2026-03-23T13:00:00Z')); // Monday 14:00 Berlin: 1 + 5 = 6 working hours
    const deps = { source: new KnexWatchdogSource(t.db), clock, clocks: calendarClocks };
    expect((await runWatchdog(deps)).filter((r) => r.record_id === id)).toEqual([]);
    clock.set(new Date('2026-03-23T15:00:00Z')); // 16:00 Berlin: 8 working hours
    expect((await runWatchdog(deps)).filter((r) => r.record_id === id)).toEqual([{ record_id: id, condition: 'draft_overdue' }]);
  });
});

describe('in the running service', () => {
  it('the scheduled scan alerts the team in Slack and notes the ticket', async () => {
    const s = await startTestService(t, { env: { WATCHDOG_INTERVAL_MS: '1000' } });
    try {
      s.stack.zendesk.addTicket({ id: 7999, tags: ['lifecycle_request'] });
      const now = Date.now();
      const id = await insert({
        kind: 'downgrade',
        state: 'failed',
        ticket_id: '7999',
        created_at: new Date(now - 3 * H).toISOString(),
        updated_at: new Date(now - 2 * H).toISOString(),
      });
      await until(() => [...s.stack.slack.messages.values()].some((m) => String(m.text).includes(id)), 15_000, 'the Slack alert');
      const text = String([...s.stack.slack.messages.values()].find((m) => String(m.text).includes(id))!.text);
      expect(text).toMatch(/needs attention: it failed 2 h ago and has not been retried\. .*Retry with `lifecycle-desk records retry/);
      await until(() => s.stack.zendesk.notes(7999).length > 0, 15_000, 'the ticket note');
      expect(s.stack.zendesk.notes(7999)[0]).toContain(`Lifecycle Desk record ${id} needs attention: it failed 2 h ago`);
    } finally {
      await s.close();
    }
  });
});
