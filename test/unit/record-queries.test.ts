import { accountHistory, lookupRecords, pendingApprovalItems, recordWithEvents } from '../../src/app/record-queries';
import type { ApprovalSnapshot, RecordFilter, RecordQuerySource } from '../../src/app/record-queries';
import { AppError } from '../../src/records/errors';
import type { LifecycleRecord } from '../../src/records/kinds';
import type { ApprovalRequest } from '../../src/records/ports';

/** The reads the API and the Slack app share, decided once in src/app over the read port. */

const record = (id: string, over: Partial<LifecycleRecord> = {}): LifecycleRecord => ({
  id,
  kind: 'service_credit',
  subtype: 'outage',
  account_id: 'acc_acme',
  ticket_id: '42',
  requested_by: 'ann',
  requester: null,
  reason_code: 'outage',
  reason_text: '',
  effective: 'immediate',
  effective_at: null,
  state: 'pending_approval',
  version: 2,
  details: {},
  amount: null,
  risk_flags: [],
  problems: [],
  created_at: '2026-03-16T12:00:00.000Z',
  updated_at: '2026-03-16T12:00:00.000Z',
  ...over,
});

function source(
  records: LifecycleRecord[],
  snapshots: Record<string, ApprovalSnapshot | null> = {},
  pending: string[] = [],
): RecordQuerySource & { filters: RecordFilter[] } {
  const filters: RecordFilter[] = [];
  return {
    filters,
    async records(f) {
      filters.push(f);
      return records
        .filter((r) => (f.accountId === undefined || r.account_id === f.accountId) && (f.ticketId === undefined || r.ticket_id === f.ticketId))
        .slice(0, f.limit);
    },
    async recordWithEvents(id) {
      const r = records.find((x) => x.id === id);
      return r ? { record: r, events: [] } : null;
    },
    async account() {
      return null;
    },
    async accountHistory(accountId) {
      return { records: records.filter((r) => r.account_id === accountId), events: [] };
    },
    async pendingApprovals() {
      return pending.map((record_id) => ({ record_id, approvals_required: 2 }) as unknown as ApprovalRequest);
    },
    async approvalSnapshot(id) {
      return snapshots[id] ?? null;
    },
  };
}

it('answers not_found for an unknown record, and for an account with no row, record or event', async () => {
  const s = source([record('r1')]);
  await expect(recordWithEvents(s, 'r1')).resolves.toMatchObject({ record: { id: 'r1' } });
  await expect(recordWithEvents(s, 'nope')).rejects.toThrow(AppError);
  await expect(accountHistory(s, 'acc_acme')).resolves.toMatchObject({ account: null, records: [{ id: 'r1' }] });
  await expect(accountHistory(s, 'acc_none')).rejects.toThrow(/No account acc_none/);
});

it('looks a word up as an account id first, then as a ticket id with or without #', async () => {
  const s = source([record('r1'), record('r2', { account_id: 'acc_b', ticket_id: '77' })]);
  await expect(lookupRecords(s, 'acc_acme')).resolves.toMatchObject({ by: 'account', records: [{ id: 'r1' }] });
  await expect(lookupRecords(s, '#77')).resolves.toMatchObject({ by: 'ticket', records: [{ id: 'r2' }] });
  expect(s.filters.at(-1)).toEqual({ ticketId: '77', limit: 10 });
});

it("lists what still waits for a supervisor's decision, leaving out records that moved on", async () => {
  const snap = (r: LifecycleRecord, approvals: number): ApprovalSnapshot => ({
    record: r,
    request: null,
    decisions: Array.from({ length: approvals }, (_, i) => ({ decision: 'approve', approver_id: `U${i}` }) as never),
    accountName: 'Acme GmbH',
    preview: null,
  });
  const s = source([], { r1: snap(record('r1'), 1), r2: snap(record('r2', { state: 'approved' }), 2) }, ['r1', 'r2', 'gone']);
  await expect(pendingApprovalItems(s, 'U1', [], 40)).resolves.toEqual([
    { record: expect.objectContaining({ id: 'r1' }), accountName: 'Acme GmbH', approvals: 1, approvalsRequired: 2 },
  ]);
});
