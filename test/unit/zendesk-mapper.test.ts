import fs from 'node:fs';
import path from 'node:path';
import { parseFieldMap } from '../../src/integrations/zendesk/field-map';
import { parseZendeskDelivery } from '../../src/integrations/zendesk/payload';
import { mapTicket, mayBeRequest } from '../../src/integrations/zendesk/zendesk.mapper';
import { intakeOf, problemLabels } from '../../src/integrations/zendesk/inbound';
import { AppError } from '../../src/records/errors';
import { RecordRequestSchema } from '../../src/records/kinds';
import { triggerBody } from '../fixtures/zendesk-trigger';
import { ticketTags } from '../../src/app/ticket-view';
import { DATE_INPUT_HINT } from '../../src/records/dates';

const FILE = path.resolve(__dirname, '..', '..', 'config', 'field-map.example.json');
const map = parseFieldMap(JSON.parse(fs.readFileSync(FILE, 'utf8')), FILE);

const mapped = (fields: Record<string, string>, over: Parameters<typeof triggerBody>[2] = {}) => {
  const d = parseZendeskDelivery(triggerBody(7, fields, over), {});
  const m = mapTicket(d.ticket!, map);
  if (!m.relevant) throw new Error(`not relevant: ${m.why}`);
  return m;
};

it('maps an upgrade with dropdown values, requester and agent', () => {
  const m = mapped({
    kind: 'lc_upgrade',
    subtype: 'lc_subscription',
    account_id: 'acc_acme',
    reason_code: 'lc_growth',
    to_plan: 'lc_business',
    effective: 'lc_now',
  });
  expect(m.request).toEqual({
    kind: 'upgrade',
    subtype: 'subscription',
    account_id: 'acc_acme',
    requested_by: 'agent@support.example',
    requester: { email: 'ops@acme.example', name: 'Olga Ops' },
    reason_code: 'growth',
    reason_text: 'Please change our plan',
    effective: 'immediate',
    details: { to_plan: 'business' },
  });
  expect(RecordRequestSchema.safeParse(m.request).success).toBe(true);
});

it('maps a service credit: decimal amount to minor units (JPY has none), inclusive period end', () => {
  const m = mapped({
    kind: 'lc_credit',
    subtype: 'lc_outage',
    account_id: 'acc_1',
    reason_code: 'outage',
    amount: '1,500',
    currency: 'jpy',
    period_start: '2026-03-10',
    period_end: '2026-03-10',
    incident_reference: 'INC-7',
  });
  expect(m.mappingProblems).toEqual([expect.objectContaining({ field: 'Amount (field 360001000011)' })]);
  const ok = mapped({
    kind: 'lc_credit',
    subtype: 'lc_outage',
    account_id: 'acc_1',
    reason_code: 'outage',
    amount: '1500',
    currency: 'jpy',
    period_start: '2026-03-10',
    period_end: '2026-03-10',
    incident_reference: 'INC-7',
  });
  expect(ok.request.details).toEqual({
    period_start: '2026-03-10T00:00:00.000Z',
    period_end: '2026-03-11T00:00:00.000Z',
    requested_credit: { amount_minor: 1500, currency: 'JPY' },
    incident_reference: 'INC-7',
  });
  const eur = mapped({ kind: 'lc_credit', subtype: 'lc_goodwill', account_id: 'acc_1', amount: '12.50', currency: 'EUR' });
  expect(eur.request.details).toMatchObject({ requested_credit: { amount_minor: 1250, currency: 'EUR' } });
});

it('says which ticket field could not be read', () => {
  const m = mapped({ kind: 'lc_credit', subtype: 'lc_outage', account_id: 'acc_1', amount: '12.505', currency: 'EUR', period_start: 'yesterday' });
  expect(m.mappingProblems.map((p) => p.field).sort()).toEqual(['Affected from (field 360001000013)', 'Amount (field 360001000011)']);
  expect(m.mappingProblems.find((p) => p.field.startsWith('Amount'))!.message).toMatch(/EUR has 2 decimal places/);
});

it('takes dates and ISO timestamps in every date field, and names both forms when it cannot read one', () => {
  const m = mapped({
    kind: 'lc_credit',
    subtype: 'lc_outage',
    account_id: 'acc_1',
    amount: '10',
    currency: 'EUR',
    period_start: '2026-05-01T00:00:00Z',
    period_end: '2026-05-03T12:00:00Z',
    effective: 'lc_on_date',
    effective_date: '2026-06-01T00:00:00Z',
  });
  expect(m.mappingProblems).toEqual([]);
  expect(m.request).toMatchObject({ effective: '2026-06-01', details: { period_start: '2026-05-01T00:00:00.000Z', period_end: '2026-05-03T12:00:00.000Z' } });
  const suspension = mapped({
    kind: 'lc_status',
    subtype: 'lc_suspension',
    account_id: 'acc_a',
    suspension_cause: 'unpaid',
    review_date: '2026-04-01T09:00:00+02:00',
  });
  expect(suspension.request.details).toEqual({ suspension: { cause: 'unpaid', review_date: '2026-04-01' } });
  const bad = mapped({ kind: 'lc_credit', subtype: 'lc_outage', account_id: 'acc_1', period_start: '05/01/2026', termination_date: 'x' });
  expect(bad.mappingProblems).toEqual([{ field: 'Affected from (field 360001000013)', message: `"05/01/2026" is not ${DATE_INPUT_HINT}` }]);
});

it('maps merges and suspensions into their detail objects', () => {
  expect(mapped({ kind: 'lc_status', subtype: 'lc_merge', account_id: 'acc_a', merge_target_account_id: 'acc_b' }).request.details).toEqual({
    merge: { source_account_id: 'acc_a', target_account_id: 'acc_b' },
  });
  expect(
    mapped({ kind: 'lc_status', subtype: 'lc_suspension', account_id: 'acc_a', suspension_cause: 'unpaid', review_date: '2026-04-01' }).request.details,
  ).toEqual({
    suspension: { cause: 'unpaid', review_date: '2026-04-01' },
  });
  expect(mapped({ kind: 'lc_termination', subtype: 'lc_customer_initiated', account_id: 'acc_a', fee_waived: 'true' }).request.details).toEqual({
    fee_waived: true,
  });
});

it('ignores tickets without the request tag or a request type', () => {
  const d = parseZendeskDelivery(triggerBody(8, {}, { tags: 'billing' }), {});
  expect(mapTicket(d.ticket!, map)).toEqual({ relevant: false, why: expect.any(String) });
  const tagged = mapTicket(parseZendeskDelivery(triggerBody(9, {}, { tags: 'lifecycle_request' }), {}).ticket!, map);
  expect(tagged.relevant).toBe(true);
});

it('reports the re-request tag, which every ticket update the service makes takes off again', () => {
  const fields = { kind: 'lc_upgrade', subtype: 'lc_subscription', account_id: 'acc_acme', reason_code: 'growth', to_plan: 'business' };
  expect(mapped(fields).rerequest).toBe(false);
  expect(mapped(fields, { tags: 'lifecycle_request lifecycle_rerequest' }).rerequest).toBe(true);
  expect(ticketTags({ kind: 'upgrade', state: 'confirmed' }).remove).toContain('lifecycle_rerequest');
});

it("tells from an event's tags whether the ticket may be a request (dropdown values are tags too)", () => {
  expect(mayBeRequest(['billing', 'vip'], map)).toBe(false);
  expect(mayBeRequest([], map)).toBe(false);
  expect(mayBeRequest(['billing', 'lifecycle_request'], map)).toBe(true);
  expect(mayBeRequest(['lc_upgrade'], map)).toBe(true);
  expect(mayBeRequest(['lc_credit'], map)).toBe(true);
  expect(mayBeRequest(['lifecycle_termination', 'lifecycle_confirmed'], map)).toBe(true);
  const event = (tags?: unknown) =>
    parseZendeskDelivery({ type: 'zen:event-type:ticket.tags_changed', id: 'e', detail: { id: '5', ...(tags === undefined ? {} : { tags }) } }, {});
  expect(intakeOf(event(['billing']), map).mapped).toEqual({ relevant: false, why: expect.stringMatching(/tags/) });
  expect(intakeOf(event(['lc_downgrade']), map).mapped).toBeNull();
  // No tags (or tags we cannot read): read the ticket.
  expect(intakeOf(event(), map).mapped).toBeNull();
  expect(intakeOf(event('lifecycle_request'), map).mapped).toBeNull();
});

it('labels request paths with the ticket fields agents edit', () => {
  const labels = problemLabels(map);
  expect(labels['details.to_plan']).toBe('Target plan (field 360001000008)');
  expect(labels['reason_code']).toBe('Reason (field 360001000004)');
});

it('refuses an invalid field map naming the file and path', () => {
  const bad = { fields: { kind: 'abc', account_id: 1, to_plan: 1 } };
  let err: unknown;
  try {
    parseFieldMap(bad, 'config/field-map.json');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).message).toMatch(/config\/field-map\.json: invalid Zendesk field map:\n {2}- fields\.kind:/);
  expect(() => parseFieldMap({ fields: { kind: 1, account_id: 1 } }, 'f')).toThrow(/field id 1 is also used for kind/);
  expect(() => parseFieldMap({ fields: { account_id: 2 } }, 'f')).toThrow(/fields\.kind: the kind field id is required/);
});

it('parses an event webhook as needing an API read, keyed by its event id', () => {
  const d = parseZendeskDelivery({ type: 'zen:event-type:ticket.created', id: 'evt-1', detail: { id: '55' }, time: '2026-03-16T10:00:00Z' }, {});
  expect(d).toEqual({
    deliveryKey: 'event-evt-1',
    ticketId: '55',
    ticket: null,
    needsFetch: true,
    eventType: 'zen:event-type:ticket.created',
    eventTags: null,
  });
  expect(parseZendeskDelivery({ type: 'zen:event-type:ticket.created', id: 'evt-1', detail: { id: '55' } }, { invocationId: 'inv-9' }).deliveryKey).toBe(
    'inv-9',
  );
  expect(() => parseZendeskDelivery({ type: 'zen:event-type:user.created', id: 'x', detail: { id: '1' } }, {})).toThrow(AppError);
});
