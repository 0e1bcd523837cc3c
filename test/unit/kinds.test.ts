import { billingEffectsFor, BILLING_EFFECTS_NOTES, BILLING_EFFECTS_TABLE } from '../../src/records/billing';
import { accountChangesFor } from '../../src/records/apply';
import { KIND_MODULES, KINDS, SUBTYPES, typedRecord } from '../../src/records/kinds';
import type { LifecycleRecord } from '../../src/records/kinds';
import { AppError } from '../../src/records/errors';
import type { TicketFields } from '../../src/records/kinds/common';
import { FIELD_NAMES } from '../../src/integrations/zendesk/field-map';
import { buildAccount, buildCatalog } from '../helpers/builders';

/** The kind registry: one module per kind, and the dispatchers that route through it. */

const record = (over: Partial<LifecycleRecord> = {}): LifecycleRecord => ({
  id: 'rec_1',
  kind: 'status_change',
  subtype: 'suspension',
  account_id: 'acc_acme',
  ticket_id: null,
  requested_by: 'agent',
  requester: null,
  reason_code: 'x',
  reason_text: '',
  effective: 'immediate',
  effective_at: '2026-03-16T12:00:00.000Z',
  state: 'applying',
  version: 3,
  details: { status_before: 'active', status_after: 'suspended', suspension: { cause: 'fraud', review_date: '2026-04-01' } },
  amount: null,
  risk_flags: [],
  problems: [],
  created_at: '2026-03-16T12:00:00.000Z',
  updated_at: '2026-03-16T12:00:00.000Z',
  ...over,
});

it('registers one module per kind, each naming its own kind and labelling every subtype for customers', () => {
  expect(Object.keys(KIND_MODULES)).toEqual(KINDS);
  for (const kind of KINDS) {
    const m = KIND_MODULES[kind];
    expect(m.kind).toBe(kind);
    expect(m.label).toMatch(/^[A-Z]/);
    expect(Object.keys(m.customerLabels).sort()).toEqual([...SUBTYPES[kind]].sort());
    expect(m.billingRows.map((r) => r.subtype)).toEqual([...SUBTYPES[kind]]);
  }
});

it('numbers the billing notes the modules name, once each, with no mark left unresolved', () => {
  const cells = BILLING_EFFECTS_TABLE.flatMap((r) => [r.ledger, r.stripe, r.webhook]);
  expect(cells.join(' ')).not.toContain('[[');
  const used = new Set(cells.flatMap((c) => [...c.matchAll(/\((\d+)\)/g)].map((m) => Number(m[1]))));
  expect([...used].sort((a, b) => a - b)).toEqual(BILLING_EFFECTS_NOTES.map((_, i) => i + 1));
  expect(new Set(BILLING_EFFECTS_NOTES).size).toBe(BILLING_EFFECTS_NOTES.length);
});

it('types a submitted record by its kind, and refuses a subtype its kind does not have rather than guess', () => {
  const r = typedRecord(record());
  expect(r.kind === 'status_change' && r.subtype).toBe('suspension');
  expect(() => typedRecord(record({ subtype: 'upgrade_everything' }))).toThrow(AppError);
  expect(() => typedRecord(record({ kind: 'refund' as never }))).toThrow(/unknown kind "refund"/);
  // The dispatchers go through the typed record, so a stray subtype never bills or changes an account.
  expect(() => billingEffectsFor(record({ subtype: 'freeze' }), buildAccount(), buildCatalog())).toThrow(/not a subtype of status_change/);
  expect(() => accountChangesFor(record({ subtype: 'freeze' }), buildAccount(), buildCatalog(), null)).toThrow(/not a subtype of status_change/);
});

it('dispatches to the kind module: a suspension pauses collection until the review date and zeroes MRR', () => {
  const account = buildAccount();
  expect(billingEffectsFor(record(), account, buildCatalog())).toEqual([
    { key: 'apply', secondary: false, effect: { type: 'pause', resumes_at: '2026-04-01T00:00:00.000Z' } },
  ]);
  expect(accountChangesFor(record(), account, buildCatalog(), null).account).toMatchObject({ status: 'suspended', mrr_minor: 0 });
});

it('reads exactly the ticket fields it lists, all of them known to the field map', () => {
  const known: readonly string[] = FIELD_NAMES;
  for (const kind of KINDS) {
    const asked = new Set<string>();
    const spy =
      <T>(value: T) =>
      (name: string) => {
        asked.add(name);
        return value;
      };
    const fields: TicketFields = {
      str: spy('x'),
      num: spy(1),
      date: spy('2026-03-16'),
      instant: spy('2026-03-16T00:00:00.000Z'),
      bool: spy(true),
      list: spy(['a']),
      // The mapper's money reads the amount and its currency.
      money: () => (asked.add('amount').add('currency'), { amount_minor: 1, currency: 'EUR' }),
      accountId: 'acc_acme',
    };
    const m = KIND_MODULES[kind];
    expect(Object.keys(m.detailsFromTicket(fields)).length).toBeGreaterThan(0);
    expect([...asked].sort()).toEqual([...m.ticketFields].sort());
    expect(m.ticketFields.filter((f) => !known.includes(f))).toEqual([]);
  }
});
