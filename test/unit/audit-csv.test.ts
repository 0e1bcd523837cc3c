import { parse } from 'csv-parse/sync';
import { AUDIT_CSV_COLUMNS, auditEventToCsv } from '../../src/db/audit.queries';
import type { AuditEvent } from '../../src/records/audit';

/** The audit export's CSV: RFC 4180 through csv-stringify, and safe to open in a spreadsheet. */

const event = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  id: '17',
  account_id: 'acc_acme',
  seq: 3,
  record_id: 'r1',
  type: 'record.reject',
  actor: { role: 'supervisor', id: '@boss' },
  occurred_at: '2026-03-16T12:00:00.000Z',
  data: { reason: 'no, "really",\nnot this', amount: -5 },
  prev_hash: null,
  hash: 'abc',
  ...over,
});

it('writes one line a CSV parser reads back cell for cell, with the data as JSON', () => {
  const [row] = parse(auditEventToCsv(event()), { relax_quotes: false }) as string[][];
  expect(row).toHaveLength(AUDIT_CSV_COLUMNS.length);
  const cells = Object.fromEntries(AUDIT_CSV_COLUMNS.map((c, i) => [c, row![i]]));
  expect(cells).toMatchObject({ id: '17', seq: '3', type: 'record.reject', prev_hash: '', hash: 'abc' });
  expect(JSON.parse(cells.data!)).toEqual({ reason: 'no, "really",\nnot this', amount: -5 });
});

it('defuses cells a spreadsheet would run as formulas', () => {
  const [row] = parse(auditEventToCsv(event({ actor: { role: 'agent', id: '=HYPERLINK("http://x")' }, record_id: '+1', type: '-2' }))) as string[][];
  expect(row![6]).toBe(`'=HYPERLINK("http://x")`);
  expect(row![3]).toBe(`'+1`);
  expect(row![4]).toBe(`'-2`);
  expect(row![1]).toBe('acc_acme');
});
